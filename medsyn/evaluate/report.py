"""The experiment's report: report.json (every number), report.md (side by side) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PLOTS = ("per_code_hit.png", "gain_vs_real_count.png", "filter_funnel.png")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _ci(ci: list[float]) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def best_mixed(report: dict[str, Any]) -> str | None:
    """The real+synthetic configuration with the highest Hit@3 (None if there is none)."""
    mixed = [n for n in report["configs"] if n.startswith("real+") and "replicated" not in n]
    return max(mixed, key=lambda n: report["configs"][n]["hit@3"]) if mixed else None


def _blank(x: object) -> str:
    return "" if x is None else str(x)


def _r(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _privacy_lines(label: str, p: dict[str, Any]) -> list[str]:
    ngram, emb, m = p["ngram"], p["embedding"], p["membership"]
    kept = 100 * p.get("kept_share_above_ngram", 0.0)
    return [
        f"`{label}`: {p['n_synthetic']} generated notes against {p['n_real']} real training notes.",
        f"- closest real note, 5-gram Jaccard: mean {_r(ngram['mean'])}, p95 {_r(ngram['p95'])}, "
        f"max {_r(ngram['max'])}; share >= {ngram['threshold']}: {100 * ngram['share_above']:.2f}% "
        f"(after filters: {kept:.2f}%)",
        f"- closest real note, LSA cosine: mean {_r(emb['mean'])}, p95 {_r(emb['p95'])}; "
        f"share >= {emb['threshold']}: {100 * emb['share_above']:.2f}%",
        f"- membership inference ({m['members']} example notes vs {m['nonmembers']} never-used notes of the "
        f"same codes): AUC n-gram {_r(m['auc_ngram'])}, AUC embedding {_r(m['auc_embedding'])} "
        "(0.5 = nothing revealed)",
        "",
    ]


def markdown(report: dict[str, Any]) -> str:
    inputs = report["inputs"]
    lines = [
        "# medsyn evaluate: does upsampling with synthetic notes help?",
        "",
        f"Train: `{inputs['train']}` ({inputs['n_train_real']} real notes). "
        f"Test: `{inputs['test']}` ({inputs['n_test']} notes). Classifier: {report['classifier']}, "
        f"seeds {report['seeds']}, {report['bootstrap']} bootstrap resamples (95% intervals, paired).",
        "",
        "| configuration | n_train | Hit@1 | Hit@3 | Hit@5 | macro Hit@3 "
        "| ΔHit@1 vs real | ΔHit@3 vs real | OOT Hit@3 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in report["configs"].items():
        d1, d3 = c["delta_vs_real"]["hit@1"], c["delta_vs_real"]["hit@3"]
        lines.append(
            f"| {name} | {c['n_train']} | {_pct(c['hit@1'])} {_ci(c['ci']['hit@1'])} | "
            f"{_pct(c['hit@3'])} {_ci(c['ci']['hit@3'])} | {_pct(c['hit@5'])} | "
            f"{_pct(c['macro']['hit@3'])} | "
            f"{100 * d1['delta']:+.2f} {_ci(d1['ci'])} | {100 * d3['delta']:+.2f} {_ci(d3['ci'])} | "
            f"{_pct(c['oot']['hit@3'])} |"
        )
    for name, c in report.get("skipped_configs", {}).items():
        lines.append(f"| {name} | {c['n_train']} | skipped: {c['reason']} | | | | | | |")
    best = best_mixed(report)
    lines += ["", "## Verdict", ""]
    if best:
        d = report["configs"][best]["delta_vs_real"]["hit@3"]
        verdict = "helps" if d["ci"][0] > 0 else "hurts" if d["ci"][1] < 0 else "makes no clear difference"
        lines.append(
            f"Best real+synthetic configuration by Hit@3: `{best}`: "
            f"{100 * d['delta']:+.2f} points {_ci(d['ci'])} "
            f"against real only: synthetic data **{verdict}** here (the interval decides, not the point)."
        )
        label = best.split("+", 1)[1].split(":")[0]
        control = f"real+replicated({label})" + (best[len(f"real+{label}") :])
        if control in report["configs"]:
            c = report["configs"][control]["hit@3"]
            lines.append(
                f"Its volume control `{control}` (real notes replicated to the same counts) "
                f"has Hit@3 {_pct(c)}."
            )
    lines.append(f"Rare codes (rule `:rare`): fewer than {report['rare_below']} real training notes.")
    rare_rows = [(n, c) for n, c in report["configs"].items() if "rare" in c]
    if rare_rows:
        n_rare = rare_rows[0][1]["rare"]["n_test"]
        lines += [
            "",
            f"On the test notes of rare codes ({n_rare} notes of {len(report.get('rare_codes', []))} codes):",
            "",
            "| configuration | Hit@1 | Hit@3 | ΔHit@3 vs real | ΔHit@3 vs its volume control |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, c in rare_rows:
            r = c["rare"]
            d = r["delta_vs_real"]["hit@3"]
            ctl = r.get("delta_vs_control", {}).get("hit@3")
            ctl_text = f"{100 * ctl['delta']:+.2f} {_ci(ctl['ci'])}" if ctl else ""
            lines.append(
                f"| {name} | {_pct(r['hit@1'])} | {_pct(r['hit@3'])} | "
                f"{100 * d['delta']:+.2f} {_ci(d['ci'])} | {ctl_text} |"
            )
        lines.append("")
    if report["oot_codes"]:
        lines.append(f"Out-of-training codes (real notes removed): {', '.join(report['oot_codes'])}.")
    unseen = inputs["test_codes_unseen_in_train"]
    if unseen:
        lines.append(f"Test codes with no real training notes ({len(unseen)}): {', '.join(unseen)}.")
    lines += ["", "## Quality gates (each synthetic set as generated, before the filters)", ""]
    for label, g in report.get("quality", {}).items():
        from medsyn.quality.gates import gate_lines

        lines += [
            f"`{label}`: {g['n_text']} notes with text, {g['failed']} failed.",
            "",
            "| gate | value | target | |",
            "|---|---:|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in gate_lines(g)]
        lines.append("")
    lines += ["## Filters", ""]
    for label, f in report["filters"].items():
        lines += [
            f"`{label}` ({f['path']}): {f['n']} notes, {f['kept']} kept.",
            "",
            "| filter | threshold | removed | remaining |",
            "|---|---:|---:|---:|",
        ]
        for step in f["funnel"]:
            if step["enabled"]:
                below = f" ({step['kept_below']} kept below it)" if step.get("kept_below") else ""
                lines.append(
                    f"| {step['filter']} | {_blank(step.get('threshold'))}{below} | {step['removed']} "
                    f"| {step['remaining']} |"
                )
            else:
                lines.append(f"| {step['filter']} (off) | | | {step['remaining']} |")
        lines.append("")
    lines += ["## Privacy", ""]
    for label, p in report["privacy"].items():
        if "ngram" not in p:
            lines.append(f"`{label}`: nothing to check ({p})")
            continue
        lines += _privacy_lines(label, p)
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in PLOTS] + [""]
    return "\n".join(lines)


def plots(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = report["configs"]
    real = configs["real"]
    best = best_mixed(report) or "real"
    codes = sorted(real["per_code"], key=lambda c: real["n_train_by_code"].get(c, 0))
    fig, ax = plt.subplots(figsize=(max(6, 0.12 * len(codes)), 4))
    xs = range(len(codes))
    ax.bar([x - 0.2 for x in xs], [real["per_code"][c]["hit@3"] for c in codes], width=0.4, label="real")
    ax.bar(
        [x + 0.2 for x in xs], [configs[best]["per_code"][c]["hit@3"] for c in codes], width=0.4, label=best
    )
    ax.set_xticks(list(xs), codes, rotation=90, fontsize=6)
    ax.set_ylabel("Hit@3")
    ax.set_title("Per-code Hit@3 (codes by real training count, rising)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / PLOTS[0], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    counts = [real["n_train_by_code"].get(c, 0) for c in codes]
    gains = [configs[best]["per_code"][c]["hit@3"] - real["per_code"][c]["hit@3"] for c in codes]
    ax.scatter([c + 1 for c in counts], gains, s=12)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("real training notes of the code (+1, log)")
    ax.set_ylabel(f"Hit@3 gain: {best} - real")
    fig.tight_layout()
    fig.savefig(out / PLOTS[1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, f in report["filters"].items():
        steps = [s for s in f["funnel"] if s["enabled"]]
        ax.plot(
            ["generated"] + [s["filter"] for s in steps],
            [f["n"]] + [s["remaining"] for s in steps],
            marker="o",
            label=label,
        )
    ax.set_ylabel("notes remaining")
    ax.set_title("Filter funnel")
    ax.tick_params(axis="x", rotation=30)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / PLOTS[2], dpi=100)
    plt.close(fig)


def write_report(report: dict[str, Any], out: Path) -> None:
    """Plots and report.md first, report.json last: its presence means the run finished."""
    plots(report, out)
    (out / ".report.md.tmp").write_text(markdown(report), encoding="utf-8")
    (out / ".report.md.tmp").replace(out / "report.md")
    (out / ".report.json.tmp").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / ".report.json.tmp").replace(out / "report.json")
