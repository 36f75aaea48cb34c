"""The sample log on its own: what a kill and a resume leave in it."""

from __future__ import annotations

from lynx_core.train.sample_log import SampleLog, read_log


def test_a_resume_drops_the_batches_it_redoes_and_a_line_cut_short(tmp_path):
    path = tmp_path / "samples.rank0.jsonl"
    first = SampleLog(path)
    for batch in range(6):
        first.record(batch, [f"s:{batch}a", f"s:{batch}b"])
    with path.open("a") as log:
        log.write('{"batch": 6, "keys": ["s:6')  # killed mid-line
    resumed = SampleLog(path)  # a new process, resuming from the checkpoint of batch 4
    for batch in range(4, 8):
        resumed.record(batch, [f"s:{batch}a", f"s:{batch}b"])
    assert read_log(path) == [(b, [f"s:{b}a", f"s:{b}b"]) for b in range(8)]


def test_a_batch_asked_again_in_the_same_process_replaces_its_line(tmp_path):
    path = tmp_path / "samples.rank1.jsonl"
    log = SampleLog(path)
    for batch in (0, 1, 2, 1, 2):  # e.g. a step retried in place
        log.record(batch, [f"s:{batch}"])
    assert read_log(path) == [(0, ["s:0"]), (1, ["s:1"]), (2, ["s:2"])]
