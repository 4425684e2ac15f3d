"""mangacolor-bench's output: the printed table, the JSON report and the rows as markdown.

The markdown has the layout of docs/benchmarks.md's GPU table (card, task, settings, images/s,
MFU, peak memory, date, commit; colourise rows give pages/s), followed by the command, the
machine and each profiled row's breakdown, so that measured figures are pasted, never retyped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mangacolor.benchmark import profiling
from mangacolor.runtime.atomic import atomic_write


# ---- the printed table ----------------------------------------------------------------------------------
def on_off(value: Any) -> str:
    return "on" if value else "off"


def format_number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def syncs_text(count: Any, per: str) -> str:
    """ "; 2 host syncs/batch" where they were counted (on a GPU), nothing elsewhere."""
    return f"; {count} host syncs/{per}" if count is not None else ""


def row_summary(row: dict[str, Any]) -> tuple[str, str, str]:
    """(settings, rate, details) for the printed table."""
    s, r = row["settings"], row["results"]
    task = row["task"]
    if "error" in r:  # e.g. a batch too large for the card: the row says so, the sweep goes on
        return row_settings(row), "-", r["error"]
    if task == "model":
        settings = (
            f"{s['size']}px b{s['batch_size']} {s['precision']} "
            f"compile={on_off(s['compile'])} cl={on_off(s['channels_last'])}"
        )
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "unknown"
        mem = f"{r['peak_memory_gib']:.1f} GiB" if r.get("peak_memory_gib") is not None else "-"
        details = (
            f"{format_number(r['iterations_per_s'])} it/s, {format_number(r['step_ms'])} ms/step "
            f"(host CPU {format_number(r['process_cpu_s_per_iteration'])} s), "
            f"{format_number(r['gflop_per_image'])} GFLOP/img, "
            f"{format_number(r['achieved_tflops'])} TFLOP/s, MFU {mfu}, peak {mem}"
            f"{syncs_text(r.get('host_syncs_per_iteration'), 'iteration')}"
        )
        return settings, f"{format_number(r['images_per_s'])} img/s", details
    if task == "data":
        settings = f"{s['size']}px b{s['batch_size']} workers={s['workers']}"
        if s.get("decode_on_device") is not None:
            settings += f" decode_on_device={on_off(s['decode_on_device'])}"
        if styles_text(s):
            settings += f" inputs={styles_text(s)}"
        if s.get("hints"):
            settings += " hints=on"
        ratio = format_number(r.get("ratio_to_model"))
        details = (
            f"one worker reads {format_number(r.get('worker_pages_per_s'))} pages/s; "
            f"transforms alone {format_number(r['transforms_images_per_s'])} img/s"
            f"{cpu_text(r.get('transforms_cpu_ms_per_image'))}; x{ratio} the model's rate"
            f"{syncs_text(r.get('host_syncs_per_batch'), 'batch')}"
        )
        return settings, f"{format_number(r['images_per_s'])} img/s", details
    if task == "end_to_end":
        settings = f"{s['size']}px b{s['batch_size']} {s['precision']} workers={s['workers']}"
        details = (
            f"{format_number(r['iterations_per_s'])} it/s, {format_number(r['step_ms'])} ms/step "
            f"(host CPU {format_number(r['process_cpu_s_per_iteration'])} s)"
        )
        return settings, f"{format_number(r['images_per_s'])} img/s", details
    if task == "colourise":
        settings = f"{s['page_height']}x{s['page_width']} short side {s['short_side']} {s['precision']}{fast_path_text(s)}"
        details = f"{format_number(r['ms_per_page'])} ms/page"
        if r.get("process_cpu_s_per_page") is not None:
            details += f" (process CPU {format_number(r['process_cpu_s_per_page'])} s)"
        if r.get("gflop_per_page") is not None:
            share = f"{100 * r['mfu']:.1f}% of peak" if r.get("mfu") is not None else "peak unknown"
            details += (
                f", {format_number(r['gflop_per_page'])} GFLOP/page, "
                f"{format_number(r['achieved_tflops'])} TFLOP/s, {share}"
            )
        return settings, f"{format_number(r['pages_per_s'])} pages/s", details
    return "", "", ""


def fast_path_text(s: dict[str, Any]) -> str:
    """ " cl=on compile=off threads=2" for colourise rows that record them (older reports do not)."""
    if "channels_last" not in s:
        return ""
    return f" cl={on_off(s['channels_last'])} compile={on_off(s['compile'])} threads={s['threads']}"


def cpu_text(ms_per_image: float | None) -> str:
    return f" ({format_number(ms_per_image)} ms CPU/img)" if ms_per_image is not None else ""


def styles_text(settings: dict[str, Any]) -> str:
    """A data row's input styles, e.g. "screentone" or "plain 0.25 + screentone 0.35 + ..."; "" for
    plain only (and rows from before there were styles)."""
    styles = settings.get("input_styles") or {"plain": 1.0}
    if list(styles) == ["plain"]:
        return ""
    if len(styles) == 1:
        return next(iter(styles))
    return " + ".join(f"{name} {weight:.2g}" for name, weight in styles.items())


def profile_text(row: dict[str, Any]) -> str | None:
    """The profiled row's one-line breakdown (or its error), None for rows without a profile."""
    summary = row["results"].get("profile")
    if summary is None:
        return None
    return (
        f"profile failed: {summary['error']}"
        if "error" in summary
        else profiling.profile_line(summary)
    )


def format_bench_table(rows: list[dict[str, Any]]) -> str:
    lines = [("task", "settings", "rate", "details")] + [
        (row["task"], *row_summary(row)) for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    printed = [
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}".rstrip()
        for a, b, c, d in lines
    ]
    for index in reversed(
        range(len(rows))
    ):  # each profile line under its row; from the end, so indices hold
        line = profile_text(rows[index])
        if line:
            printed.insert(index + 2, " " * (widths[0] + 2) + line)
    return "\n".join(printed)


# ---- markdown ----------------------------------------------------------------------------------------
COLUMNS = ("card", "task", "settings", "images/s", "MFU", "peak memory", "date", "commit")


def row_settings(row: dict[str, Any]) -> str:
    """The settings cell: what a reader needs to rerun the row, in the docs' short form."""
    s, task = row["settings"], row["task"]
    if task == "model":
        return (
            f"{s['size']}², {s['precision']}, batch {s['batch_size']}, compile {on_off(s['compile'])}, "
            f"channels_last {on_off(s['channels_last'])}"
        )
    if task == "data":
        decode = (
            ""
            if s.get("decode_on_device") is None
            else f", decode on device {on_off(s['decode_on_device'])}"
        )
        styles = f", inputs {styles_text(s)}" if styles_text(s) else ""
        hints = ", hints" if s.get("hints") else ""
        return (
            f"{s['size']}² of {s['window']} windows, batch {s['batch_size']}, {s['workers']} workers"
            f"{decode}{styles}{hints}"
        )
    if task == "end_to_end":
        return (
            f"{s['size']}², {s['precision']}, batch {s['batch_size']}, {s['workers']} workers, "
            f"compile {on_off(s['compile'])}, channels_last {on_off(s['channels_last'])}"
        )
    if task == "colourise":
        fast = (
            f", channels_last {on_off(s['channels_last'])}, compile {on_off(s['compile'])}, "
            f"{s['threads']} threads"
            if "channels_last" in s
            else ""
        )
        return (
            f"{s['page_height']} x {s['page_width']} pages, short side {s['short_side']}, {s['precision']}"
            f"{fast}, tile {s['tile']}, {s['pages_per_call']} pages per call"
        )
    return ""


def row_rate(row: dict[str, Any]) -> str:
    r = row["results"]
    if "error" in r:
        return r["error"]
    if row["task"] == "colourise":
        return f"{format_number(r['pages_per_s'])} pages/s"
    if row["task"] == "data" and r.get("ratio_to_model") is not None:
        return (
            f"{format_number(r['images_per_s'])} ({format_number(r['ratio_to_model'])} x the model)"
        )
    return format_number(r["images_per_s"])


def row_cells(row: dict[str, Any], date: str) -> list[str]:
    r = row["results"]
    measured_model = row["task"] in ("model", "colourise") and "error" not in r
    mfu = (
        f"{100 * r['mfu']:.1f} %"
        if r.get("mfu") is not None
        else ("unknown" if measured_model else "")
    )
    memory = f"{r['peak_memory_gib']:.1f} GiB" if r.get("peak_memory_gib") is not None else ""
    return [
        row["machine"],
        row["task"].replace("_", " "),
        row_settings(row),
        row_rate(row),
        mfu,
        memory,
        date,
        f"`{row['commit']}`",
    ]


def markdown_line(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def markdown_table(report: dict[str, Any]) -> str:
    """The rows as docs/benchmarks.md's GPU table, then the command, machine and profiles."""
    date = report["date"][:10]
    lines = [markdown_line(list(COLUMNS)), markdown_line(["---"] * len(COLUMNS))]
    lines += [markdown_line(row_cells(row, date)) for row in report["rows"]]
    machine = report["machine"]
    lines += [
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {machine['name']}, torch {machine['torch']}, CUDA {machine.get('cuda') or '-'}, "
        f"Lightning {machine['lightning']}, Python {machine['python']}, {machine['cpu_cores']} CPU cores "
        f"({machine['cpu']}{isa_text(machine)}); load average {machine.get('load_average_at_start')} at the start, "
        f"{report.get('load_average_at_end')} at the end; {report['date']}.",
    ]
    peaks = dict.fromkeys(row["results"].get("peak_how") for row in report["rows"])
    peaks.pop(None, None)
    if peaks:
        lines += ["", "Peaks (MFU, fraction of peak): " + "; ".join(peaks) + "."]
    if not report.get("complete", True):
        lines += ["", "**Incomplete: the run stopped before its last row.**"]
    profiles = [(index, row) for index, row in enumerate(report["rows"]) if profile_text(row)]
    if profiles:
        lines += ["", "Profiles (`bench.profile=true`):", ""]
        lines += [
            f"- row {index} ({row['task']}, {row_settings(row)}): {profile_text(row)}"
            for index, row in profiles
        ]
    return "\n".join(lines) + "\n"


def isa_text(machine: dict[str, Any]) -> str:
    isa = machine.get("onednn_max_cpu_isa")
    return f", ONEDNN_MAX_CPU_ISA={isa}" if isa else ""


def markdown_path(json_path: Path) -> Path:
    return json_path.with_suffix(".md")


def write_report(report: dict[str, Any], json_path: str | Path, markdown: bool = True) -> None:
    """Write the JSON (and, with `markdown`, its .md beside it), each atomically."""
    json_path = Path(json_path)
    with atomic_write(json_path) as handle:
        handle.write(json.dumps(report, indent=2).encode())
    if markdown:
        with atomic_write(markdown_path(json_path)) as handle:
            handle.write(markdown_table(report).encode())


def summary_line(report: dict[str, Any], json_path: str) -> str:
    """mangacolor-bench's last line: how many rows, where, and where the JSON is."""
    return (
        f"mangacolor-bench: {len(report['rows'])} rows on {report['machine']['name']}, torch "
        f"{report['machine']['torch']}, commit {report['commit']}; "
        f"JSON at {json_path}"
    )
