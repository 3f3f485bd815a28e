"""``callcenter import-customers FILE``: bulk import from CSV or XLSX."""

from __future__ import annotations

import sys

import click

from callcenter.config import get_settings


class _Bars:
    """One click progress bar per phase (checking, importing), fed (done, total)."""

    def __init__(self) -> None:
        self._bar = None
        self._phase = ""
        self._done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self.close()
            self._phase, self._done = phase, 0
            self._bar = click.progressbar(length=max(total, 1), label=f"{phase:9}", file=sys.stderr)
            self._bar.__enter__()
        step = min(done, max(total, 1)) - self._done
        if step > 0 and self._bar is not None:
            self._bar.update(step)
            self._done += step

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@click.command("import-customers")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--encoding", default=None,
              help="Text encoding of a CSV (default: detected — UTF-8 with or without BOM, else GBK).")
@click.option("--sheet", default=None, help="Worksheet of an .xlsx file (default: the first).")
@click.option("--skip-bad-rows", is_flag=True,
              help="Import the good rows even when some rows are bad (the bad ones are listed).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows per transaction.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_customers(file: str, encoding: str | None, sheet: str | None, skip_bad_rows: bool,
                     batch_size: int, quiet: bool) -> None:
    """Import customers from FILE (.csv or .xlsx; header row in English or Chinese).

    Columns: name/姓名 and phones/电话 (several separated by ; , /) are required;
    optional tier/等级 (VIP, 会员, 普通), area/小区, building/楼栋, unit/单元, room/房号,
    address/地址, notes/备注, important/重要 (是/否), external_ref/编号.
    Re-importing updates customers (by external_ref, else by name and phone).
    A file with bad rows imports nothing unless --skip-bad-rows. Exit status: 0 all
    rows imported, 1 bad rows or an unreadable file.
    """
    from callcenter.services.people.customer_import import ImportFileError
    from callcenter.services.people.customer_import import import_customers as run_import

    settings = get_settings()
    bars = None if quiet else _Bars()
    try:
        report = run_import(settings.database_url, file, region=settings.phone_region, encoding=encoding,
                            sheet=sheet, skip_bad_rows=skip_bad_rows, batch_size=batch_size, progress=bars)
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if bars is not None:
            bars.close()

    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in report.errors:
        click.echo(f"bad row: {problem}", err=True)
    source = f"{file} ({report.encoding}, header on line {report.header_line})"
    if report.imported:
        click.echo(f"{source}: {report.rows} rows, {report.created} customers created, "
                   f"{report.updated} updated" + (f", {len(report.errors)} bad rows skipped" if report.errors else ""))
    else:
        click.echo(f"{source}: {len(report.errors)} of {report.rows} rows are bad; nothing imported "
                   "(fix them, or use --skip-bad-rows to import the good rows)")
    if report.errors:
        raise SystemExit(1)


COMMANDS = [import_customers]
