"""SQuAD v1.1 question answering: BERT-large (ONNX, PyTorch, TensorFlow) and its stand-ins."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="squad",
    description="SQuAD v1.1 dev (user folder: dev-v1.1.json + vocab.txt), 384-token features",
    input_shape=(3, 384),
    input_dtype="int64",
    output_shape=(384, 2),
    dataset="perfpilot.tasks.squad.dataset:SquadDataset",
    metric="F1",
    accuracy_target=round(90.874 * 0.99, 5),  # the checker's ("F1", 90.874 * 0.99)
    server_latency_ms=130,
    needs_dataset_path=True,
    input_names=("input_ids", "input_mask", "segment_ids"),
    dataset_hint="dev-v1.1.json and vocab.txt; "
    "'perfpilot dataset synthetic-squad DIR' makes a stand-in",
    adapter="perfpilot.tasks.squad.adapter:SquadAdapter",
    scorer="perfpilot.tasks.squad.scorer:score_dataset",
    loaders=(("pytorch", "perfpilot.tasks.common.torch_models"),),
    synthetic="perfpilot.tasks.squad.commands:synthetic_squad",
)

MODELS: tuple[ModelSpec, ...] = (
    *(
        ModelSpec(
            name=name,
            task="squad",
            description=f"MLPerf BERT-large SQuAD, official ONNX {kind} ({note})",
            format="onnx",
            loadgen_name="bert",
            provider="",
            postprocess="squad-logits",
            urls=urls,
            md5=md5,
            artifact=artifact,
            input_names=inputs,
            accuracy_target=target,
        )
        for name, kind, note, urls, md5, artifact, inputs, target in (
            (
                "bert-99",
                "fp32",
                "opset 11, 90.874% F1; target 99%",
                (
                    "https://zenodo.org/record/3733910/files/model.onnx",
                    "https://armi.in/files/model.onnx",
                ),
                "819b25b19cd8e59080c10892689750ca",
                "bert-large-squad-onnx-fp32",
                (),
                None,
            ),
            (
                "bert-99.9",
                "fp32",
                "opset 11, 90.874% F1; target 99.9%",
                (
                    "https://zenodo.org/record/3733910/files/model.onnx",
                    "https://armi.in/files/model.onnx",
                ),
                "819b25b19cd8e59080c10892689750ca",
                "bert-large-squad-onnx-fp32",
                (),
                round(90.874 * 0.999, 6),
            ),
            (
                "bert-99-int8",
                "int8",
                "fake-quant, 90.067% F1; target 99% of fp32",
                (
                    "https://zenodo.org/record/3750364/files/bert_large_v1_1_fake_quant.onnx",
                    "https://armi.in/files/bert_large_v1_1_fake_quant.onnx",
                    "https://mlperf-public.s3.us-west-2.amazonaws.com/"
                    "bert_large_v1_1_fake_quant.onnx",
                ),
                "45f88ffb2915362242703c85c38ec2d4",
                "bert-large-squad-onnx-int8",
                ("input_ids", "attention_mask", "token_type_ids"),
                None,
            ),
        )
    ),
    ModelSpec(
        name="bert-99-pytorch",
        task="squad",
        description="MLPerf BERT-large SQuAD, official PyTorch fp32 state dict (HF "
        "BertForQuestionAnswering layout, --backend pytorch), 90.874% F1",
        format="pytorch",
        loadgen_name="bert",
        provider="",
        postprocess="squad-logits",
        urls=(
            "https://zenodo.org/record/3733896/files/model.pytorch",
            "https://armi.in/files/fp32/model.pytorch",
        ),
        md5="00fbcbfaebfa20d87ac9885120a6e9b4",
        artifact="bert-large-squad-pytorch-fp32",
    ),
    ModelSpec(
        name="bert-99-tensorflow",
        task="squad",
        description="MLPerf BERT-large SQuAD, official TensorFlow frozen graph fp32 "
        "(--backend tensorflow; int32 inputs, batch 1, output logits [N, 384, 2])",
        format="tensorflow",
        loadgen_name="bert",
        provider="",
        postprocess="squad-logits",
        urls=("https://zenodo.org/record/3939747/files/model.pb",),
        md5="dd72de12e8226f25f0128a1a864b97ad",
        artifact="bert-large-squad-tf-fp32",
        # language/bert/tf_SUT.py feeds these and fetches logits:0
        input_names=("input_ids:0", "input_mask:0", "segment_ids:0"),
        output_names=("logits:0",),
    ),
    ModelSpec(
        name="bert-standin",
        task="squad",
        description="BERT-large architecture and ONNX signature, random weights (offline)",
        format="onnx",
        loadgen_name="bert",
        provider="perfpilot.tasks.squad.standin:ensure_bert_standin",
        postprocess="squad-logits",
        standin=True,
    ),
    ModelSpec(
        name="bert-standin-tiny",
        task="squad",
        description="small BERT stand-in (2 layers, hidden 128; NOT BERT-large): tests",
        format="onnx",
        loadgen_name="bert",
        provider="perfpilot.tasks.squad.standin:ensure_bert_standin_tiny",
        postprocess="squad-logits",
        standin=True,
    ),
)
