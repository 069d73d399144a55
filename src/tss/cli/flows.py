"""``tss flow ...``: the dependency tree of a job, and the states of a flow run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.tree import Tree

from tss.api.schemas import FlowSummaryOut
from tss.cli.context import run_async, searched
from tss.cli.json_out import run_data
from tss.cli.output import JSON, console, fmt_time, new_table, print_json, state_text
from tss.core import flows
from tss.core.flows import FlowGraph, FlowSummary
from tss.core.models import Run
from tss.core.states import RunState
from tss.errors import ValidationError

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

app = typer.Typer(no_args_is_help=True)


def _label(job: str, on: str | None, rule: str, extra: str = "") -> str:
    edge = "" if on is None or on == "success" else f" [dim](on {on})[/]"
    any_rule = " [dim](any parent)[/]" if rule == "any" else ""
    return f"[bold]{escape(job)}[/]{edge}{any_rule}{extra}"


def tree_of(graph: FlowGraph, extra: dict[str, str] | None = None) -> Tree:
    """The graph as a tree from its root: a job with several parents appears under each,
    its own children only under the first (later copies say so)."""
    extra = extra or {}
    tree = Tree(_label(graph.root, None, graph.rules[graph.root], extra.get(graph.root, "")))
    shown: set[str] = {graph.root}
    order = {job: i for i, job in enumerate(graph.jobs)}

    def grow(node: Tree, job: str) -> None:
        for edge in sorted(graph.children(job), key=lambda e: order.get(e.child, 0)):
            label = _label(edge.child, edge.on, graph.rules[edge.child], extra.get(edge.child, ""))
            if edge.child in shown:
                node.add(f"{label} [dim](see above)[/]")
                continue
            shown.add(edge.child)
            grow(node.add(label), edge.child)

    grow(tree, graph.root)
    return tree


def _graph_data(graph: FlowGraph) -> dict[str, Any]:
    return {
        "root": graph.root,
        "nodes": [{"job": job, "trigger_rule": graph.rules[job]} for job in graph.jobs],
        "edges": [{"parent": e.parent, "child": e.child, "on": e.on} for e in graph.edges],
    }


@app.command("show")
def show(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="The job at the top of the flow."),
    as_json: bool = JSON,
) -> None:
    """Show the tree of jobs a run of JOB sets going, with each edge's condition."""

    async def body(tss: Backend) -> FlowGraph:
        return await tss.flow_graph(job)

    graph = run_async(ctx, body)
    if as_json:
        print_json(_graph_data(graph))
        return
    console.print(tree_of(graph))
    if len(graph.jobs) == 1:
        console.print(f"no job depends on {job}", style="dim")


@app.command("status")
def status(
    ctx: typer.Context,
    run_id: str = typer.Argument(
        ..., help="Any run of the flow (its first run's id is the flow's)."
    ),
    as_json: bool = JSON,
) -> None:
    """Show a flow run as a tree of its jobs, each with its run's state and why."""

    async def body(tss: Backend) -> tuple[str, list[Run]]:
        run = await tss.get_run(run_id)
        if run.flow_id is None:
            raise ValidationError(f"run {run_id} is not part of a flow", field="run_id")
        return run.flow_id, await tss.flow_runs(run.flow_id)

    flow_id, runs = run_async(ctx, body)
    members = [flows.FlowRun.of(run) for run in runs]
    state = flows.flow_state(members)
    if as_json:
        print_json({"flow_id": flow_id, "state": state, "runs": [run_data(r) for r in runs]})
        return
    current = flows.current_runs(members)
    by_id = {run.id: run for run in runs}
    extra = {}
    for job, member in current.items():
        run = by_id[member.id]
        why = f" [dim]{escape(run.reason)}[/]" if run.reason and run.state.terminal else ""
        extra[job] = f"  {state_text(run.state)}  [dim]{run.id}[/]{why}"
    console.print(f"flow [bold]{flow_id}[/]: {state}")
    console.print(tree_of(flows.graph_of_runs(members), extra))


@app.command("list")
def list_flows(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many, newest first."),
    as_json: bool = JSON,
) -> None:
    """List flow runs, newest first: the root job and run, when it started, its state and
    how many of its runs are in each state."""

    async def body(tss: Backend) -> list[FlowSummary]:
        return await tss.list_flows(limit=limit)

    found = run_async(ctx, body)
    if as_json:
        print_json([FlowSummaryOut.of(f).model_dump(mode="json") for f in found])
        return
    table = new_table("flow", "root job", "started", "state", "runs")
    for f in found:
        counts = ", ".join(f"{n} {state}" for state, n in f.counts.items())
        table.add_row(
            f.flow_id, f.job, fmt_time(f.created_at), state_text(RunState(f.state)), counts
        )
    console.print(table)
    if not found:
        console.print(f"no flow runs in {searched(ctx)}", style="dim", markup=False)
