"""The fix for every rule, in words a first-time submitter can act on.

Every rule id the checker can report has its entry here; a finding carries its rule's fix.
"""

from __future__ import annotations

# rule id -> the fix, in words a first-time submitter can act on.
FIXES: dict[str, str] = {
    "accuracy-files": "Add the files the round asks for beside accuracy.txt (for "
    "stable-diffusion-xl: the listed sample images and captions.txt, as the reference "
    "accuracy script writes them).",
    "power-session": "Keep the PTD session files as the power director and client wrote them "
    "(power/client.json, server.json and their logs, from one session); re-run the power "
    "measurement if they do not match.",
    "power-checksum": "Submit the log files of the power session unchanged (the session "
    "recorded their checksums), or re-run the power measurement.",
    "power-sources": "Measure with the round's release of mlcommons/power-dev, unmodified "
    "(the power checker compares the checksums of its sources).",
    "power-ptd": "Run the round's PTDaemon release on a supported analyzer, driven by the "
    "power director unmodified (it sets the ranges, starts, stops and restores them); "
    "re-run the power measurement.",
    "power-phases": "Run LoadGen through the power client of one session, on synchronised "
    "clocks (NTP) on both machines, with ranging and testing runs of the same length; "
    "re-run the power measurement.",
    "power-log": "Re-run the power measurement: PTDaemon's log must show uncertainty "
    "checking on from the start and no errors outside the ranging run.",
    "power-samples": "Keep spl.txt and mlperf_log_detail.txt of the same power run (the "
    "analyzer samples must fall between LoadGen's power_begin and power_end).",
    "perf-metric-missing": "Use the LoadGen release of the round: its detail log must carry "
    "the key of the official figure.",
    "root-stray-file": "Move it out: only .md and .pdf files may sit at the root of the tree.",
    "unknown-division": "Rename or remove it: the root holds only closed/, open/ or network/.",
    "division-stray-file": "Move it into the submitter folder or delete it.",
    "symlink-outside": "Replace the link with a copy of the file (links outside the tree are "
    "never followed and do not survive packaging).",
    "symlink-broken": "Remove the broken link or put the real file in its place.",
    "file-too-large": "Files over 50 MB are not accepted: truncate logs "
    "('perfpilot submission truncate') or drop traces.",
    "hidden-file": "Delete it: dot-files and dot-folders are not allowed.",
    "space-in-name": "Rename it without spaces.",
    "pycache": "Delete the __pycache__ folder.",
    "empty-folder": "Delete the empty folder or put the missing files in it.",
    "layout-mismatch": "Check --round, or lay the tree out for that round "
    "('perfpilot submission generate --round R' uses the right layout).",
    "system-without-results": "Add results for this system or remove its JSON from systems/.",
    "calibration-missing": "Add calibration.md (or documentation/calibration.md) describing "
    "how the model was calibrated/quantized ('none' if it was not).",
    "code-missing": "Add the code folder for the model (code/<model>/ up to v5.1, src/ from "
    "v6.0) with a README on how to reproduce the runs.",
    "system-json-missing": "Add systems/<system>.json ('perfpilot system describe' writes one).",
    "system-json-invalid": "Fix the JSON syntax of the system description.",
    "system-field-missing": "Add the field to the system JSON ('perfpilot system describe' "
    "lists them all).",
    "system-field-empty": "Fill the field with a meaningful value.",
    "system-status": "Set status to available, preview or rdi.",
    "system-type": "Set system_type to datacenter, edge or datacenter,edge.",
    "system-mismatch": "Make division/submitter in the system JSON match the folder names.",
    "model-not-in-round": "Use a model of this round (or the open division with "
    "model_mapping.json), or check with --round.",
    "category-not-allowed": "Submit this model on a system category the round allows "
    "(system_type in the system JSON).",
    "scenario-missing": "Run and add the missing scenario ('perfpilot submission plan' lists "
    "every required run).",
    "scenario-not-allowed": "Remove this scenario: the round does not accept it for this "
    "model and system category.",
    "measurements-missing": "Add the measurements JSON, user.conf and README.md of the result.",
    "measurements-file-missing": "Add the file to the measurements folder (user.conf used for "
    "the run, README.md with the command that reproduces it).",
    "measurements-field": "Fill the field in the measurements JSON.",
    "missing-file": "Add the file: copy it from the run directory of that LoadGen test.",
    "stray-file": "Remove the file: this folder holds only the files LoadGen and the "
    "accuracy script wrote.",
    "endpoints-file-missing": "Copy the file the MLPerf Endpoints run wrote here (config.yaml "
    "in the scenario folder, performance/result_summary.json, accuracy/accuracy_results.json).",
    "endpoints-model": "Submit this model with LoadGen logs: the round's checker does not "
    "take it as an MLPerf Endpoints result.",
    "perf-endpoints-figure": "Submit this scenario with LoadGen logs: the official checker "
    "finds no figure for it in an Endpoints summary.",
    "accuracy-endpoints-scores": "Re-run the accuracy evaluation so accuracy_results.json "
    "lists accuracy_scores.",
    "perf-unreadable": "Copy the LoadGen logs of the performance run here again.",
    "perf-invalid": "Re-run the performance test with settings that give VALID (lower "
    "target_qps or raise target latency; 'perfpilot run --execution valid').",
    "perf-loadgen-errors": "Fix what LoadGen reported and re-run the test.",
    "perf-seeds": "Re-run with the LoadGen release of this round (its built-in mlperf.conf "
    "carries the round's seeds; never set seeds in user.conf).",
    "perf-sample-count": "Do not lower performance_sample_count_override below the "
    "round's value; re-run.",
    "perf-min-duration": "Re-run with the official min_duration (600 s, "
    "'--execution valid'); do not shorten it in user.conf.",
    "perf-min-queries": "Re-run with the official min_query_count.",
    "perf-offline-samples": "Raise Offline target_qps so LoadGen issues at least the "
    "round's minimum samples per query, and re-run.",
    "perf-latency-bound": "Set the Server target latency to at most the model's bound and "
    "lower target_qps until the run is VALID.",
    "perf-early-stopping": "Run longer or at a lower load so the early-stopping estimate is met.",
    "perf-equal-issue": "Enable sample_concatenate_permutation (equal-issue mode) as the "
    "round's mlperf.conf does for this model.",
    "perf-token-latencies-off": "Re-run with use_token_latencies on (the round's mlperf.conf "
    "sets it for the model; do not turn it off in user.conf) and a harness that reports the "
    "first token and the token count of each sample.",
    "perf-token-latency": "Lower the load (target_qps) until p99 TTFT and TPOT are under the "
    "bounds of the scenario, and re-run; Interactive needs the model's -interactive settings.",
    "perf-scenario-mismatch": "Put the logs in the folder of the scenario they were run in.",
    "accuracy-unreadable": "Regenerate accuracy.txt with the official accuracy script for "
    "this model.",
    "accuracy-below-target": "Fix the model or preprocessing until accuracy reaches the "
    "target, then re-run accuracy and performance.",
    "accuracy-length": "Generate with the reference settings (max new tokens, stop at EOS, "
    "greedy) so the generated length stays within 10% of the reference, then re-run accuracy.",
    "accuracy-hash-missing": "Run 'perfpilot submission truncate DIR': it adds the hash line "
    "and truncates the log.",
    "accuracy-hash-bad": "Restore the original mlperf_log_accuracy.json from the backup and "
    "run 'perfpilot submission truncate DIR' again.",
    "accuracy-log-not-truncated": "Run 'perfpilot submission truncate DIR'.",
    "accuracy-loadgen-errors": "Fix what LoadGen reported and re-run the accuracy test.",
    "accuracy-dataset-size": "Run accuracy on the whole validation set, not a subset.",
    "compliance-missing": "Run the compliance test ('perfpilot compliance run TEST0x ...').",
    "compliance-failed": "Investigate the failed compliance test, fix the harness and re-run "
    "it (and the submission run if needed).",
    "compliance-files": "Copy the compliance test's logs and verify_*.txt in place again.",
    "standin-closed": "Stand-in models measure speed only: submit these results in the open "
    "division, or re-run with the real model.",
}
