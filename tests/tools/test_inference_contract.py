"""What the staging checks send a model: its contract and sample payloads (tools/inference_contract.py).

The package and its sample archive live in moto; nothing here is specific to one model: every problem
type, in JSON and in CSV. How requests are encoded and answers judged is tested with tools/answers.py.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from lambdas.common.contracts import CSV_CONTENT_TYPE, JSON_CONTENT_TYPE, SAMPLE_PAYLOADS_FILE, InferenceContract
from tests.tools.conftest import (
    CONTRACTS,
    INSTANCES,
    SAMPLE_URL,
    client,
    create_package,
    payload_document,
    put_sample_archive,
    sample_archive,
)
from tools import inference_contract
from tools.inference_contract import (
    AwsReadError,
    ContractError,
    Payload,
    PayloadError,
    format_problems,
    parse_fallback_contract,
    read_payload_files,
    read_sample_archive,
    resolve_sample,
)

BINARY = CONTRACTS["binary-json"]
FALLBACK = CONTRACTS["regression-json"]


def resolve(arn: str, *, fallback: InferenceContract | None = None, payloads: list[Payload] | None = None) -> Any:
    return resolve_sample(
        client("sagemaker"), client("s3"), model_package_arn=arn, fallback_contract=fallback, payloads=payloads
    )


class TestContract:
    @pytest.mark.parametrize("name", sorted(CONTRACTS))
    def test_the_package_s_contract_is_used(self, aws: None, name: str) -> None:
        contract = CONTRACTS[name]
        arn = create_package(properties=contract.to_properties(), sample_url=put_sample_archive())

        sample = resolve(arn, fallback=FALLBACK)

        assert (sample.contract, sample.contract_source) == (contract, "package")
        assert sample.summary()["contract"]["problem_type"] == contract.problem_type

    def test_a_package_without_a_contract_uses_the_fallback(self, aws: None) -> None:
        arn = create_package(properties={"owner": "team-a"}, sample_url=put_sample_archive())

        sample = resolve(arn, fallback=FALLBACK)

        assert (sample.contract, sample.contract_source) == (FALLBACK, "fallback")
        assert sample.summary() == {
            "model_package": arn,
            "contract": {
                "problem_type": "regression",
                "content_type": JSON_CONTENT_TYPE,
                "accept": JSON_CONTENT_TYPE,
                "prediction_attribute": "price",
                "probability_attribute": None,
            },
            "contract_source": "fallback",
            "payloads": SAMPLE_URL,
        }

    def test_no_contract_and_no_fallback_is_refused_saying_what_to_do(self, aws: None) -> None:
        arn = create_package(sample_url=put_sample_archive())
        with pytest.raises(ContractError) as refused:
            resolve(arn)
        message = str(refused.value)
        assert f"{arn} records no inference contract" in message
        assert "mlops:problem-type" in message
        assert "no --fallback-contract was given" in message

    @pytest.mark.parametrize(
        ("properties", "problem"),
        [
            ({"mlops:problem-type": "regression"}, "incomplete inference contract: no mlops:content-type"),
            ({**BINARY.to_properties(), "mlops:problem-type": "ranking"}, "problem type 'ranking' is not one of"),
            ({**BINARY.to_properties(), "mlops:accept": "text/plain"}, "accept 'text/plain' is not one of"),
            (
                {**FALLBACK.to_properties(), "mlops:probability-attribute": "p"},
                "a regression model answers no probability",
            ),
        ],
    )
    def test_an_invalid_recorded_contract_is_refused_even_with_a_fallback(
        self, aws: None, properties: dict[str, str], problem: str
    ) -> None:
        arn = create_package(properties=properties, sample_url=put_sample_archive())
        with pytest.raises(ContractError, match="records an unusable inference contract") as refused:
            resolve(arn, fallback=FALLBACK)
        assert problem in str(refused.value)

    def test_a_package_that_cannot_be_read_is_an_aws_failure(self, aws: None) -> None:
        with Stubber(client("sagemaker")) as sagemaker:
            sagemaker.add_client_error("describe_model_package", "AccessDeniedException", "not allowed")
            with pytest.raises(AwsReadError, match=r"cannot describe model package .*: AccessDeniedException: not"):
                resolve("arn:aws:sagemaker:eu-west-1:123456789012:model-package/model/1")


class TestFallbackContract:
    def test_a_json_object_of_the_fields_is_a_contract(self) -> None:
        text = json.dumps(
            {
                "problem_type": "multiclass_classification",
                "content_type": "text/csv",
                "accept": "text/csv",
                "prediction_attribute": "0",
                "probability_attribute": None,
            }
        )
        assert parse_fallback_contract(text) == CONTRACTS["multiclass-csv"]

    @pytest.mark.parametrize("text", ["", "  "])
    def test_an_empty_value_is_none(self, text: str) -> None:
        assert parse_fallback_contract(text) is None

    @pytest.mark.parametrize(
        ("values", "problem"),
        [
            ("{not json", "the fallback contract is not JSON"),
            ([1], "must be a JSON object of problem_type, content_type, accept, prediction_attribute"),
            ({"problem_type": "regression"}, "no content_type; no accept; no prediction_attribute"),
            (
                {
                    **{"problem_type": "regression", "content_type": JSON_CONTENT_TYPE, "accept": JSON_CONTENT_TYPE},
                    "prediction_attribute": "y",
                    "threshold": 0.5,
                },
                "unknown field 'threshold'",
            ),
            (
                {
                    "problem_type": "regression",
                    "content_type": JSON_CONTENT_TYPE,
                    "accept": JSON_CONTENT_TYPE,
                    "prediction_attribute": 3,
                },
                "prediction_attribute must be a string",
            ),
            (
                {
                    "problem_type": "binary_classification",
                    "content_type": CSV_CONTENT_TYPE,
                    "accept": CSV_CONTENT_TYPE,
                    "prediction_attribute": "label",
                },
                "must be a column number, not 'label'",
            ),
        ],
    )
    def test_an_unusable_fallback_is_refused(self, values: Any, problem: str) -> None:
        text = values if isinstance(values, str) else json.dumps(values)
        with pytest.raises(ContractError) as refused:
            parse_fallback_contract(text)
        assert problem in str(refused.value)


class TestPayloadsFromThePackage:
    def test_the_archive_s_member_is_the_payload(self, aws: None) -> None:
        arn = create_package(properties=BINARY.to_properties(), sample_url=put_sample_archive())

        sample = resolve(arn)

        assert sample.payloads == (Payload(SAMPLE_PAYLOADS_FILE, tuple(INSTANCES)),)
        assert (sample.payloads_source, sample.instances) == (SAMPLE_URL, INSTANCES)

    def test_files_given_replace_the_package_s_payloads(self, aws: None) -> None:
        arn = create_package(properties=BINARY.to_properties(), sample_url="s3://elsewhere/never-read.tar.gz")
        files = [Payload("mine.json", ({"age": 1},))]

        sample = resolve(arn, payloads=files)

        assert (sample.payloads, sample.payloads_source) == (tuple(files), "mine.json")

    def test_a_package_without_sample_payloads_is_refused_saying_what_to_do(self, aws: None) -> None:
        arn = create_package(properties=BINARY.to_properties())
        with pytest.raises(PayloadError, match=f"{arn} has no SamplePayloadUrl .*: pass --payloads FILE"):
            resolve(arn)

    def test_a_sample_url_that_is_not_s3_is_refused(self, aws: None) -> None:
        arn = create_package(properties=BINARY.to_properties(), sample_url="https://example.com/sample.tar.gz")
        with pytest.raises(PayloadError, match="is not an s3://bucket/key URL"):
            resolve(arn)

    def test_a_missing_archive_is_an_aws_failure(self, aws: None) -> None:
        put_sample_archive()
        arn = create_package(properties=BINARY.to_properties(), sample_url=SAMPLE_URL.replace("abc123", "gone"))
        with pytest.raises(AwsReadError, match=r"cannot read the sample payloads s3://.*/gone/.*: NoSuchKey"):
            resolve(arn)

    def test_an_archive_too_big_to_download_is_refused(self, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
        archive = sample_archive()
        monkeypatch.setattr(inference_contract, "MAX_ARCHIVE_BYTES", len(archive) - 1)
        arn = create_package(properties=BINARY.to_properties(), sample_url=put_sample_archive(archive))
        with pytest.raises(PayloadError, match=f"the archive is larger than {len(archive) - 1} bytes"):
            resolve(arn)

    def test_csv_payloads_must_be_positional_rows(self, aws: None) -> None:
        arn = create_package(properties=CONTRACTS["binary-csv"].to_properties(), sample_url=put_sample_archive())
        files = [
            Payload("a.json", tuple(INSTANCES)),
            Payload("b.json", ({"plan": "basic", "age": 3, "monthly_spend": 1},)),
        ]
        with pytest.raises(PayloadError, match=r"b\.json instance 1 does not list the features of a\.json instance 1"):
            resolve(arn, payloads=files)


class TestSampleArchive:
    def test_a_leading_dot_slash_is_the_same_member(self) -> None:
        assert read_sample_archive(sample_archive(member=f"./{SAMPLE_PAYLOADS_FILE}"), "x").instances == tuple(
            INSTANCES
        )

    def test_other_members_are_ignored(self) -> None:
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as archive:
            for name, data in (("README", b"hello"), (SAMPLE_PAYLOADS_FILE, payload_document())):
                entry = tarfile.TarInfo(name)
                entry.size = len(data)
                archive.addfile(entry, io.BytesIO(data))
        assert read_sample_archive(packed.getvalue(), "x").instances == tuple(INSTANCES)

    @pytest.mark.parametrize(
        ("archive", "problem"),
        [
            (sample_archive(member="payloads.json"), f"the archive holds no {SAMPLE_PAYLOADS_FILE}"),
            (sample_archive(member=f"../{SAMPLE_PAYLOADS_FILE}"), f"the archive holds no {SAMPLE_PAYLOADS_FILE}"),
            (sample_archive(member=f"dir/{SAMPLE_PAYLOADS_FILE}"), f"the archive holds no {SAMPLE_PAYLOADS_FILE}"),
            (sample_archive(b"{not json"), f"x: {SAMPLE_PAYLOADS_FILE}: not valid JSON"),
            (sample_archive(b'{"instances": []}'), 'expected {"instances": [...]} with at least one instance'),
            (payload_document(), "not a gzip archive"),
            (gzip.compress(b"not a tar archive" * 40), "not a tar archive"),
            (b"", "not a tar archive"),
        ],
    )
    def test_an_unusable_archive_is_refused(self, archive: bytes, problem: str) -> None:
        with pytest.raises(PayloadError) as refused:
            read_sample_archive(archive, "x")
        assert problem in str(refused.value)

    def test_a_member_that_is_not_a_file_is_refused(self) -> None:
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as archive:
            link = tarfile.TarInfo(SAMPLE_PAYLOADS_FILE)
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(link)
        with pytest.raises(PayloadError, match="is not a regular file"):
            read_sample_archive(packed.getvalue(), "x")

    def test_a_member_too_big_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(inference_contract, "MAX_PAYLOADS_BYTES", 100)
        with pytest.raises(PayloadError, match=f"{SAMPLE_PAYLOADS_FILE} is larger than 100 bytes"):
            read_sample_archive(sample_archive(), "x")

    def test_an_archive_that_unpacks_too_big_is_refused_without_unpacking_it_all(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(inference_contract, "MAX_UNPACKED_ARCHIVE_BYTES", 64 * 1024)
        bomb = sample_archive(b" " * (10 * 1024 * 1024))  # 10 MiB of spaces pack into a few KiB
        assert len(bomb) < 64 * 1024
        with pytest.raises(PayloadError, match="unpacks to more than 65536 bytes"):
            read_sample_archive(bomb, "x")


class TestPayloadFiles:
    def test_files_are_read_in_order(self, tmp_path: Path) -> None:
        (tmp_path / "first.json").write_bytes(payload_document([{"a": 1}]))
        (tmp_path / "second.json").write_bytes(payload_document([{"b": 2}, {"b": 3}]))
        payloads = read_payload_files([tmp_path / "first.json", tmp_path / "second.json"])
        assert payloads == (Payload("first.json", ({"a": 1},)), Payload("second.json", ({"b": 2}, {"b": 3})))

    @pytest.mark.parametrize(
        ("content", "problem"),
        [
            ("{not json", "not valid JSON"),
            ('[{"a": 1}]', 'expected {"instances": [...]}'),
            ('{"instances": []}', 'expected {"instances": [...]}'),
            ('{"records": [{"a": 1}]}', 'expected {"instances": [...]}'),
            ('{"instances": [{"a": 1}, 5]}', "instance 2 is not an object of features"),
            ('{"instances": [{}]}', "instance 1 is not an object of features"),
        ],
    )
    def test_an_unusable_file_is_refused_with_its_name(self, tmp_path: Path, content: str, problem: str) -> None:
        path = tmp_path / "bad.json"
        path.write_text(content)
        with pytest.raises(PayloadError, match=r"bad\.json") as refused:
            read_payload_files([path])
        assert problem in str(refused.value)

    def test_a_missing_file_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(PayloadError, match=r"missing\.json: cannot read the payload file"):
            read_payload_files([tmp_path / "missing.json"])


class TestPayloadsFitTheContract:
    @pytest.mark.parametrize(
        ("value", "shown"), [(True, "true"), (None, "null"), ([1, 2], "[1, 2]"), ({"a": 1}, '{"a": 1}')]
    )
    def test_csv_payloads_refuse_values_that_are_not_fields(self, aws: None, value: Any, shown: str) -> None:
        arn = create_package(properties=CONTRACTS["binary-csv"].to_properties())
        payloads = [Payload("odd.json", ({"age": 3, "plan": value},))]
        with pytest.raises(PayloadError, match=re.escape(f"odd.json instance 1: plan is {shown}; a CSV field must be")):
            resolve(arn, payloads=payloads)

    def test_json_payloads_take_any_json_values(self, aws: None) -> None:
        arn = create_package(properties=BINARY.to_properties())
        payloads = [Payload("odd.json", ({"tags": ["a"], "flag": True},))]
        assert resolve(arn, payloads=payloads).instances == [{"tags": ["a"], "flag": True}]


def test_the_problem_list_is_capped() -> None:
    text = format_problems("SOME CHECK", [f"problem {n}" for n in range(25)])
    assert text.splitlines()[0] == "SOME CHECK FAILED: 25 problem(s)"
    assert "problem 19" in text
    assert "problem 20" not in text
    assert text.splitlines()[-1] == "  ... and 5 more"
