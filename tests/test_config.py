import pytest

from perfpilot.config import build_run_configs
from perfpilot.errors import UsageError


def test_defaults_are_offline_accuracy_then_performance_in_test_mode() -> None:
    configs = build_run_configs()
    assert [(c.scenario, c.mode) for c in configs] == [
        ("Offline", "accuracy"),
        ("Offline", "performance"),
    ]
    assert all(c.model == "digits-cnn" and c.backend == "onnxruntime" for c in configs)
    assert all(c.execution == "test" and c.device == "cpu" for c in configs)


def test_all_scenarios_and_case_insensitive_names() -> None:
    configs = build_run_configs("all", "performance")
    assert [c.scenario for c in configs] == ["Offline", "Server", "SingleStream", "MultiStream"]
    assert build_run_configs("singlestream", "ACCURACY")[0].scenario == "SingleStream"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "Batch"}, "unknown value 'Batch' for --scenario. Choose one of: Offline"),
        ({"mode": "fast"}, "unknown value 'fast' for --mode"),
        ({"device": "tpu"}, "unknown value 'tpu' for --device. Choose one of: cpu, cuda"),
        ({"execution": "long"}, "unknown value 'long' for --execution"),
        ({"batch_size": 0}, "invalid value 0 for --batch-size: input should be greater than"),
        ({"target_qps": -5.0}, "invalid value -5.0 for --target-qps"),
        ({"target_qps": float("nan")}, "for --target-qps"),
        ({"threads": 0}, "for --threads"),
    ],
)
def test_bad_values_name_the_option(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as info:
        build_run_configs(**kwargs)  # type: ignore[arg-type]
    assert message in info.value.one_line()
    assert "\n" not in info.value.one_line()
    assert info.value.exit_code == 2


def test_configs_are_frozen() -> None:
    cfg = build_run_configs()[0]
    with pytest.raises(Exception, match="frozen"):
        cfg.batch_size = 3  # type: ignore[misc]


def test_scenario_all_means_the_models_own_scenarios() -> None:
    def scen(**options: object) -> list[str]:
        return [c.scenario for c in build_run_configs("all", "performance", **options)]

    assert scen() == ["Offline", "Server", "SingleStream", "MultiStream"]
    assert scen(model="3d-unet-standin-tiny") == ["Offline", "SingleStream"]  # no Server/MS
    assert scen(model="resnet50-standin") == ["Offline", "Server", "SingleStream", "MultiStream"]


def test_backend_options_are_read_as_yaml_would_and_recorded_in_the_config() -> None:
    from perfpilot.config.run import parse_backend_options
    from perfpilot.records import RunRecord, config_hash

    parsed = parse_backend_options(
        ["tune_trials=64", "fast=True", "ratio=0.5", "names=a:0,b:0", "pad= 0 ", "odd=nan"]
    )
    assert parsed == {
        "tune_trials": 64,
        "fast": True,
        "ratio": 0.5,
        "names": "a:0,b:0",
        "pad": 0,
        "odd": "nan",
    }
    assert type(parsed["tune_trials"]) is int and parsed["fast"] is True
    assert parse_backend_options(["k=1", "k=2"]) == {"k": 2}  # the last one given wins
    (plain,) = build_run_configs("Offline", "performance")
    (tuned,) = build_run_configs("Offline", "performance", backend_options={"tune_trials": 64})
    assert plain.backend_options == {}
    assert tuned.model_dump(mode="json")["backend_options"] == {"tune_trials": 64}
    assert config_hash(plain.model_dump(mode="json")) != config_hash(tuned.model_dump(mode="json"))
    (flag,) = build_run_configs("Offline", "performance", backend_options={"on": True})
    assert flag.backend_options["on"] is True  # not 1: the union keeps the type given
    # A record written before the field existed ran without options: same hash as now.
    old = {k: v for k, v in plain.model_dump(mode="json").items() if k != "backend_options"}
    record = RunRecord.model_validate(
        {
            "run_id": "r",
            "session_id": "s",
            "status": "ok",
            "started": "t",
            "finished": "t",
            "command": [],
            "run_dir": "d",
            "config": old,
            "model": {"name": "m"},
            "dataset": {"name": "d"},
            "provenance": {},
        }
    )
    assert record.config_hash == config_hash(plain.model_dump(mode="json"))


@pytest.mark.parametrize("item", ["tune_trials", "=4", "  =x"])
def test_backend_option_needs_key_and_value(item: str) -> None:
    from perfpilot.config.run import parse_backend_options

    with pytest.raises(UsageError, match="--backend-option wants KEY=VALUE") as info:
        parse_backend_options([item])
    assert info.value.exit_code == 2


def test_bad_backend_options_value_names_the_option() -> None:
    with pytest.raises(UsageError, match="for --backend-option"):
        build_run_configs(backend_options={"trials": [1, 2]})
