"""IVR flows and their prompt audio: ``callcenter ivr check``, ``callcenter prompts build``."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.config import get_settings


def _flows_dir(flows: str | None) -> Path:
    return Path(flows) if flows else get_settings().ivr_flows_dir


def _load(flows_dir: Path):
    from callcenter.ivr.flow import FlowError
    from callcenter.ivr.loader import load_flows

    try:
        return load_flows(flows_dir)
    except FlowError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        count = len(exc.problems)
        raise click.ClickException(f"{count} problem{'s' if count != 1 else ''} in {flows_dir}") from None


@click.group("ivr")
def ivr() -> None:
    """IVR flows (ivr_flows/*.yaml)."""


@ivr.command("check")
@click.option("--flows", type=click.Path(file_okay=False), default=None,
              help="Flow directory (default: settings.ivr_flows_dir).")
@click.option("--audio/--no-audio", default=False,
              help="Also report prompts whose audio is missing in prompts_dir.")
def ivr_check(flows: str | None, audio: bool) -> None:
    """Validate every flow file; exit 1 with one line per problem."""
    from callcenter.agi.handlers.after_hours import REQUIRED_PROMPTS
    from callcenter.ivr.loader import all_prompts
    from callcenter.ivr.sounds import missing_audio

    flows_dir = _flows_dir(flows)
    loaded = _load(flows_dir)
    problems = []
    after_hours = loaded.get("after_hours")
    if after_hours is not None:
        problems += [f"{after_hours.path}: prompt '{pid}' is needed by the after_hours route "
                     "but not defined under 'prompts'"
                     for pid in REQUIRED_PROMPTS if pid not in after_hours.prompts]
    from callcenter.agi.handlers import survey as survey_route

    survey = loaded.get("survey")
    if survey is not None:
        problems += [f"{survey.path}: prompt '{pid}' is needed by the survey route but not defined under 'prompts'"
                     for pid in survey_route.REQUIRED_PROMPTS if pid not in survey.prompts]
    if audio:
        prompts_dir = get_settings().prompts_dir
        problems += [f"{prompts_dir}: no audio for prompt '{pid}' (run `callcenter prompts build`)"
                     for pid in missing_audio(all_prompts(loaded), prompts_dir)]
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
    for flow in loaded.values():
        click.echo(f"{flow.path}: ok — flow '{flow.name}', {len(flow.nodes)} node"
                   f"{'s' if len(flow.nodes) != 1 else ''}, {len(flow.prompts)} prompts")


@click.group("prompts")
def prompts() -> None:
    """Prompt audio rendered from the flow texts."""


@prompts.command("build")
@click.option("--flows", type=click.Path(file_okay=False), default=None,
              help="Flow directory (default: settings.ivr_flows_dir).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory (default: settings.prompts_dir).")
@click.option("--force", is_flag=True, help="Render every prompt again, even unchanged ones.")
@click.option("--sln", is_flag=True, help="Also write raw .sln files beside the .wav files.")
def prompts_build(flows: str | None, out: str | None, force: bool, sln: bool) -> None:
    """Render missing or changed prompts with espeak-ng (Mandarin) and sox.

    Output: <prompts_dir>/<prompt id>.wav, 8 kHz mono 16-bit PCM, plus <id>.sha256
    (hash of the text it was rendered from). Unchanged prompts are skipped.
    """
    from callcenter.ivr.loader import all_prompts
    from callcenter.ivr.sounds import PromptBuildError, build_prompts

    loaded = _load(_flows_dir(flows))
    out_dir = Path(out) if out else get_settings().prompts_dir
    try:
        result = build_prompts(all_prompts(loaded), out_dir, force=force, sln=sln)
    except PromptBuildError as exc:
        raise click.ClickException(str(exc)) from None
    for prompt_id in result.rendered:
        click.echo(f"rendered {prompt_id}")
    for prompt_id in result.kept:
        click.echo(f"kept {prompt_id} (audio without a .sha256: not ours; --force replaces it)")
    click.echo(f"{out_dir}: {len(result.rendered)} rendered, {len(result.skipped)} unchanged, "
               f"{len(result.kept)} kept")


COMMANDS = [ivr, prompts]
