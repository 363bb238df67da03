"""tools/bench_handlers.py: which assets it imports, with what environment, and what it reports (no
absolute time is asserted: a benchmark, not a timed test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Synthesized
from tests.lambdas.test_function_assets import ENVIRONMENT_BY_SERVICE
from tools import bench_handlers
from tools.template_diff import Assembly


@pytest.fixture(scope="module")
def handlers(synthesized: Synthesized) -> list[bench_handlers.HandlerAsset]:
    return bench_handlers.handler_assets(Assembly(Path(synthesized.assembly.directory)))


def test_each_handler_is_imported_from_its_synthesized_asset(handlers: list[bench_handlers.HandlerAsset]) -> None:
    assert [handler.name for handler in handlers] == sorted(ENVIRONMENT_BY_SERVICE)
    for handler in handlers:
        package = handler.handler.split(".")[1]
        assert handler.handler == f"lambdas.{package}.handler.handler"
        assert (handler.directory / "lambdas" / package / "handler.py").is_file(), handler.name
        assert (handler.directory / "lambdas" / "common" / "aws.py").is_file(), handler.name


def test_the_environment_is_the_functions_with_plausible_deploy_time_values(
    handlers: list[bench_handlers.HandlerAsset],
) -> None:
    gate = next(handler for handler in handlers if handler.name == "approval-gate")
    assert gate.environment["POWERTOOLS_SERVICE_NAME"] == "approval-gate"
    assert gate.environment["ALERT_TOPIC_ARN"] == bench_handlers.PLAUSIBLE_VALUES["ALERT_TOPIC_ARN"]
    for handler in handlers:
        assert all(isinstance(value, str) for value in handler.environment.values()), handler.name
        lambda_environment = handler.lambda_environment()
        # Powertools' Tracer is on where LAMBDA_TASK_ROOT is set, as the deployed functions trace.
        assert lambda_environment["LAMBDA_TASK_ROOT"] == str(handler.directory)
        assert "POWERTOOLS_TRACE_DISABLED" not in bench_handlers.offline_environment(lambda_environment)
    offline = bench_handlers.offline_environment()
    assert offline["AWS_EC2_METADATA_DISABLED"] == "true"
    assert offline["AWS_ACCESS_KEY_ID"] == "testing"


def test_a_value_resolved_at_deploy_time_without_a_plausible_one_is_named() -> None:
    with pytest.raises(RuntimeError, match="NEW_TABLE_NAME is resolved at deploy time"):
        bench_handlers._plausible("NEW_TABLE_NAME", {"Ref": "Table"})


def test_measure_reports_the_reference_then_each_handler_with_its_ratio(synthesized: Synthesized) -> None:
    rows = bench_handlers.measure(1, assembly=Path(synthesized.assembly.directory))
    assert [row.name for row in rows] == [bench_handlers.REFERENCE, *sorted(ENVIRONMENT_BY_SERVICE)]
    reference = rows[0]
    assert (reference.ratio, reference.cpu_ratio, reference.repeats) == (1.0, 1.0, 1)
    for row in rows[1:]:
        assert row.median_ms > 0
        assert row.ratio == pytest.approx(row.median_ms / reference.median_ms)
    table = bench_handlers.render(rows)
    assert all(row.name in table for row in rows)


def test_the_profile_sees_the_handler_module_and_what_it_imports(handlers: list[bench_handlers.HandlerAsset]) -> None:
    traffic_shift = next(handler for handler in handlers if handler.name == "traffic-shift")
    modules = [entry.module for entry in bench_handlers.profile(traffic_shift)]
    assert modules[0] == "lambdas.traffic_shift.handler"  # everything else is imported within it
    assert {"boto3", "pydantic", "aws_lambda_powertools"} <= set(modules)


def test_each_handler_leaves_the_garbage_collector_on_with_its_imports_frozen(
    handlers: list[bench_handlers.HandlerAsset],
) -> None:
    """The handlers pause collection while they import (a full collection of everything imported so far
    was a tenth of a cold start): importing one must end with collection on again, the imports frozen."""
    check = (
        "import gc, importlib; "
        "importlib.import_module({module!r}); "
        "print(gc.isenabled(), gc.get_freeze_count() > 10000)"
    )
    for handler in handlers:
        module = handler.handler.rsplit(".", 1)[0]
        result = bench_handlers.run_python(
            ["-c", check.format(module=module)],
            cwd=handler.directory,
            environment=bench_handlers.offline_environment(handler.lambda_environment()),
        )
        assert result.stdout.split() == ["True", "True"], handler.name
