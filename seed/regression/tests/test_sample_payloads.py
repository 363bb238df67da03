"""sample_payloads.json: checked like a request, packed as CreateModelPackage's SamplePayloadUrl wants."""

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

import features
from workflow import sample_payloads
from workflow.sample_payloads import (
    DEFAULT_SAMPLE_PAYLOADS,
    SamplePayloadsError,
    pack_sample_payloads,
    validate_sample_payloads,
)
from workflow.schema import FEATURE_COLUMNS

SHIPPED: dict[str, Any] = json.loads(DEFAULT_SAMPLE_PAYLOADS.read_text())


def write_payloads(directory: Path, document: object) -> Path:
    path = directory / "sample_payloads.json"
    path.write_text(json.dumps(document))
    return path


def with_instance_change(position: int, **changes: object) -> dict[str, Any]:
    instances = [dict(instance) for instance in SHIPPED["instances"]]
    instances[position].update(changes)
    return {"instances": instances}


def test_the_shipped_payloads_are_a_request_with_exactly_the_models_features() -> None:
    document = validate_sample_payloads(DEFAULT_SAMPLE_PAYLOADS)

    assert len(document["instances"]) >= 2
    assert all(list(instance) == list(features.FEATURES) for instance in document["instances"])
    assert features.FEATURES == FEATURE_COLUMNS


def test_payloads_vary_what_the_model_reacts_to() -> None:
    instances = SHIPPED["instances"]

    for flag in ("promotion", "holiday"):
        assert {instance[flag] for instance in instances} == {0, 1}, flag
    assert {instance["category"] for instance in instances} == {
        "beverages",
        "dairy",
        "frozen",
        "household",
        "snacks",
    }


@pytest.mark.parametrize(
    ("document", "expected_message"),
    [
        ([SHIPPED["instances"][0]], 'expected one object, {"instances": [...]}, and nothing else'),
        ({"instances": SHIPPED["instances"], "extra": 1}, "and nothing else"),
        ({"instances": []}, "instances is empty"),
        ({"instances": [1]}, "instance 0: not an object of feature values"),
        (
            {"instances": [{k: v for k, v in SHIPPED["instances"][0].items() if k != "price"}]},
            "instance 0: missing features price",
        ),
        (with_instance_change(2, store_id="S001"), "instance 2: not features of the model: store_id"),
        (with_instance_change(1, units_sold=10.0), "instance 1: not features of the model: units_sold"),
        (with_instance_change(3, category="toys"), "category: isin("),
        (with_instance_change(3, week_of_year=60), "week_of_year: in_range(1, 53): 1 failing at rows 3"),
        (with_instance_change(0, price="cheap"), "price: wrong type (expected float64)"),
    ],
)
def test_a_payload_the_model_cannot_answer_is_refused(
    tmp_path: Path, document: object, expected_message: str
) -> None:
    path = write_payloads(tmp_path, document)

    with pytest.raises(SamplePayloadsError) as error:
        validate_sample_payloads(path)

    assert expected_message in str(error.value)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sample_payloads.json"
    path.write_text('{"instances": [')

    with pytest.raises(SamplePayloadsError, match="not valid JSON"):
        validate_sample_payloads(path)
    with pytest.raises(SamplePayloadsError, match="file not found"):
        validate_sample_payloads(tmp_path / "absent.json")


def test_the_archive_holds_the_file_alone_byte_for_byte() -> None:
    archive = pack_sample_payloads(DEFAULT_SAMPLE_PAYLOADS)

    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        (member,) = tar.getmembers()
        extracted = tar.extractfile(member)
        assert extracted is not None
        assert member.name == "sample_payloads.json"
        assert member.isfile()
        assert extracted.read() == DEFAULT_SAMPLE_PAYLOADS.read_bytes()


def test_the_same_file_packs_into_the_same_bytes(tmp_path: Path) -> None:
    copy = write_payloads(tmp_path, SHIPPED)

    assert pack_sample_payloads(copy) == pack_sample_payloads(copy)


def test_the_cli_checks_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_payloads(tmp_path, {"instances": []})

    assert sample_payloads.main([]) == 0
    assert sample_payloads.main([str(bad)]) == 1
    output = capsys.readouterr()
    assert f"{DEFAULT_SAMPLE_PAYLOADS}: OK ({len(SHIPPED['instances'])} instances" in output.out
    assert "instances is empty" in output.err
