"""``chargewatch bench nab`` on a small slice of NAB's development split (real, labelled streams).

Needs ``shared/benchmarks/nab-dev`` beside the checkout (found upwards from the repo): with it
missing the tests fail, they never skip. Every figure compared is computed here, on the same
three files, with the scorer's own corpus-wide threshold sweep.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.detectors.nab import make
from chargewatch.errors import ConfigError
from evaluation.nab import PROFILES, find_root, main, run_nab
from tests.evaluation.legacy_univariate import LegacyUnivariateDetector

SUBSET = ["art_daily_jumpsdown", "ec2_cpu_utilization_825cc2", "rds_cpu_utilization_cc0c53"]
ROOT = find_root(Path(__file__).parent)


class _Never:
    def score(self, timestamp_s: float, value: float) -> float:
        return 0.0


class _Legacy:
    def __init__(self) -> None:
        self.detector = LegacyUnivariateDetector()

    def score(self, timestamp_s: float, value: float) -> float:
        s = self.detector.score_one(timestamp_s, value)
        self.detector.learn_one(timestamp_s, value)
        return s


@pytest.mark.timeout(60)
def test_beats_a_silent_detector_and_the_previous_one_on_every_profile() -> None:
    new = run_nab(ROOT, make, files=SUBSET)
    never = run_nab(ROOT, _Never, files=SUBSET)
    legacy = run_nab(ROOT, _Legacy, files=SUBSET)
    assert new.files == never.files == legacy.files == len(SUBSET)
    assert new.rows == legacy.rows > 10_000
    for profile in PROFILES:
        assert never.scores[profile] == pytest.approx(0.0)
        assert new.scores[profile] > never.scores[profile]
        assert new.scores[profile] > legacy.scores[profile] + 5.0, (profile, new, legacy)


def test_cli_prints_the_profiles_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--nab-root", str(ROOT), "--files", "art_daily_jumpsup", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    payload = json.loads(out[-1])
    assert payload["files"] == 1
    assert set(payload["profiles"]) == set(PROFILES)
    assert payload["us_per_sample"] > 0.0
    assert any(line.strip().startswith("standard") for line in out[:-1])


def test_a_missing_nab_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--nab-root", str(tmp_path)]) == 2
    assert "--nab-root" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="pass --nab-root"):
        find_root(tmp_path)
