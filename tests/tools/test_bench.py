"""`make bench`'s pure parts: the many-model configurations, template limits, the report and its document."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from config import load_config
from tools import bench, bench_handlers


def test_many_models_repeats_the_default_model_under_new_names(tmp_path: Path) -> None:
    raw = bench.many_models(3)
    assert [model["name"] for model in raw["models"]] == ["m001", "m002", "m003"]
    first = yaml.safe_load(bench.DEFAULT_CONFIG.read_text())["models"][0]
    assert all({**model, "name": first["name"]} == first for model in raw["models"])
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert [model.name for model in load_config(path).models] == ["m001", "m002", "m003"]


def test_template_sizes_reads_every_template_of_an_assembly_nested_ones_included(tmp_path: Path) -> None:
    (tmp_path / "assembly-Tooling").mkdir()
    (tmp_path / "a.template.json").write_text(json.dumps({"Resources": {"A": {}, "B": {}}, "Outputs": {"O": {}}}))
    (tmp_path / "assembly-Tooling" / "b.template.json").write_text(json.dumps({"Parameters": {"P": {}}}))
    (tmp_path / "manifest.json").write_text("{}")
    sizes = {size.stack: size for size in bench.template_sizes(tmp_path)}
    assert sorted(sizes) == ["a", "b"]
    assert (sizes["a"].resources, sizes["a"].outputs, sizes["a"].parameters) == (2, 1, 0)
    assert (sizes["b"].resources, sizes["b"].parameters) == (0, 1)
    assert sizes["a"].size_bytes == (tmp_path / "a.template.json").stat().st_size


def _report(hundred: tuple[float, list[bench.TemplateSize]] | None = None) -> str:
    synth = [
        bench.Timing("one-bucket app", [4.0, 4.2, 3.9], None),
        bench.Timing("default config (1 model)", [6.0, 6.2, 5.8], "one-bucket app"),
        bench.Timing("20 models", [12.0, 12.4, 11.6], "default config (1 model)"),
    ]
    handlers = [
        bench_handlers.Row(bench_handlers.REFERENCE, 200.0, 1.0, 3),
        bench_handlers.Row("approval_gate", 260.0, 1.3, 3),
    ]
    return bench.report(synth, handlers, hundred, [("root (pytest)", 90.0), ("seed/regression", 20.0)], 3, 3)


def test_the_report_gives_medians_and_ratios_to_their_references() -> None:
    text = _report()
    assert "| default config (1 model) | 6.00 s | 1.50x one-bucket app |" in text
    assert "| 20 models | 12.00 s | 2.00x default config (1 model) |" in text
    assert "| one-bucket app | 3.90 s |" not in text  # the median, not the minimum
    assert "| one-bucket app | 4.00 s |  |" in text
    assert "| approval_gate | 260 ms | 1.30x |" in text
    assert "`make test` is the root suite, the seeds' suites run within it: 90 s." in text


def test_the_report_holds_the_hundred_models_against_cloudformations_limits() -> None:
    sizes = [bench.TemplateSize("big", 800_000, 120, 3, 1), bench.TemplateSize("many", 1000, 408, 200, 25)]
    text = _report((150.0, sizes))
    assert "one synthesis in 150.0 s, 2 templates" in text
    assert "`big`, is 800 KB of CloudFormation's 1000 KB" in text
    assert "`many`, 408 of 500" in text
    assert "outputs at most 200 of 200, parameters at most 25 of 200" in text


def test_write_report_replaces_only_the_figures(tmp_path: Path) -> None:
    document = tmp_path / "performance.md"
    document.write_text(f"# Performance\n\nBefore.\n\n{bench.BEGIN}\nold figures\n{bench.END}\n\nAfter.\n")
    bench.write_report("new figures\n", document)
    assert document.read_text() == f"# Performance\n\nBefore.\n\n{bench.BEGIN}\nnew figures\n{bench.END}\n\nAfter.\n"
    document.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no <!-- bench:begin -->"):
        bench.write_report("x", document)


def test_the_documented_figures_have_their_markers() -> None:
    text = bench.PERFORMANCE_DOC.read_text()
    assert text.count(bench.BEGIN) == 1
    assert text.count(bench.END) == 1
    assert text.index(bench.BEGIN) < text.index(bench.END)


@pytest.mark.parametrize("value", ["", "1", "5,x", "0,20"])
def test_model_counts_must_be_numbers_of_at_least_two(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        bench._counts(value)


def test_model_counts() -> None:
    assert bench._counts("5,20") == (5, 20)
