"""Command line: ``rotpunkt develop IN... -o OUTDIR`` and ``rotpunkt info IN``.

Each file is developed on its own: a file that fails prints one clear line naming it and the reason, the
others still develop, and the exit status is 1 when any failed (2 for a usage error).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import RotpunktError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="rotpunkt: develop phone RAW (DNG) files with correct colour.")

FORMAT_SUFFIX = {"jpeg": ".jpg", "tiff": ".tif", "png": ".png"}


def _err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@app.command()
def develop(
    inputs: Annotated[list[Path], typer.Argument(help="raw files (DNG or any LibRaw format)", show_default=False)],
    outdir: Annotated[Path, typer.Option("-o", "--outdir", help="output folder (created if missing)")] = Path("."),
    space: Annotated[str, typer.Option(help="output colour space: srgb or p3")] = "srgb",
    fmt: Annotated[str, typer.Option("--format", "-f", help="jpeg, tiff (16-bit) or png")] = "jpeg",
    demosaic: Annotated[str | None, typer.Option(help="demosaic method (default: the best available)")] = None,
    quality: Annotated[int, typer.Option(help="JPEG quality 1-100")] = 95,
    exposure: Annotated[float, typer.Option(help="exposure bias in EV")] = 0.0,
    overwrite: Annotated[bool, typer.Option(help="replace existing outputs")] = True,
    preview: Annotated[int, typer.Option("--preview", help="fast reduced develop: 2, 4 or 8 times smaller "
                                         "(no demosaic); 0 = full size")] = 0,
    look: Annotated[str, typer.Option(help="look: a name from `rotpunkt looks` or a .toml path")] = "neutral",
    engine: Annotated[str, typer.Option(help="auto (compiled kernels when built), halide, or numpy")] = "auto",
) -> None:
    """Develop raw files to JPEG / 16-bit TIFF / PNG with the colour space's ICC profile embedded."""
    import numpy as np
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .errors import InvalidParams
    from .io.write import write
    from .params import validate
    from .pipeline import DevelopParams
    from .raw import open_raw
    from .runner import develop_tiled

    console = _err_console()
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMAT_SUFFIX:
        console.print(f"[red]error:[/] --format must be jpeg, tiff or png; got {fmt!r}")
        raise typer.Exit(2)
    try:
        from .look import load_look

        load_look(look)
        kw = {"space": space.lower(), "exposure": exposure, "look": look, "engine": engine.lower()}
        if demosaic:
            kw["demosaic"] = demosaic
        params = validate(DevelopParams(**kw))
        if not 1 <= quality <= 100:
            raise InvalidParams(f"--quality must be in [1, 100]; got {quality}")
        if preview not in (0, 2, 4, 8):
            raise InvalidParams(f"--preview must be 0, 2, 4 or 8; got {preview}")
    except RotpunktError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        console.print(f"[red]error:[/] cannot create output folder {outdir}: {exc.strerror}")
        raise typer.Exit(2) from None

    failed: list[tuple[Path, str]] = []
    done = 0
    claimed: dict[Path, Path] = {}  # output -> the input that owns it in this run
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as progress:
        task = progress.add_task("developing", total=len(inputs))
        for src in inputs:
            progress.update(task, description=f"developing {src.name}")
            dst = outdir / (src.stem + FORMAT_SUFFIX[fmt])
            try:
                owner = claimed.setdefault(dst.resolve(), src)
                if owner is not src:
                    raise RotpunktError(f"output {dst.name} would overwrite the output of {owner}", src)
                if dst.exists() and os.path.samefile(dst, src):
                    raise RotpunktError("output would overwrite the input", dst)
                if dst.exists() and not overwrite:
                    raise RotpunktError("output exists (use --overwrite)", dst)
                bits = 16 if fmt == "tiff" else 8
                with open_raw(src) as raw:  # banded develop straight to the output's integer depth
                    if preview:
                        img = raw.preview(params, scale=preview)
                        bits = None
                    else:
                        img = develop_tiled(raw.data, raw.meta, params,
                                            out_dtype=np.uint16 if bits == 16 else np.uint8)
                write(img, dst, format=fmt, quality=quality, bits=bits)
                done += 1
                progress.console.print(f"[green]ok[/]  {escape(str(src))} -> {escape(str(dst))}")
            except RotpunktError as exc:
                failed.append((src, str(exc)))
                progress.console.print(f"[red]error:[/] {escape(str(exc))}")
            except MemoryError:
                failed.append((src, "out of memory"))
                progress.console.print(f"[red]error:[/] {escape(str(src))}: out of memory")
            except Exception as exc:  # a bug must not stop the other files; report it plainly
                failed.append((src, f"internal error {type(exc).__name__}: {exc}"))
                progress.console.print(f"[red]error:[/] {escape(str(src))}: internal error "
                                       f"{escape(type(exc).__name__)}: {escape(str(exc))}")
            progress.advance(task)
    if failed:
        console.print(f"{done} developed, {len(failed)} failed")
        raise typer.Exit(1)


@app.command()
def batch(
    in_dir: Annotated[Path, typer.Argument(help="folder of raw files (searched recursively)",
                                           show_default=False)],
    outdir: Annotated[Path, typer.Option("-o", "--outdir", show_default=False,
                                         help="output root; the input folder tree is mirrored in it")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jpeg, tiff (16-bit) or png")] = "jpeg",
    space: Annotated[str, typer.Option(help="output colour space: srgb or p3")] = "srgb",
    quality: Annotated[int, typer.Option(help="JPEG quality 1-100")] = 95,
    scheduler: Annotated[str | None, typer.Option(
        help="address of a running Dask scheduler (e.g. tcp://host:8786); every worker must see IN_DIR and "
             "OUT_DIR at the same paths", show_default=False)] = None,
    cluster: Annotated[str | None, typer.Option(
        help="'local': run on a Dask LocalCluster started for this run", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="files developed at once (default: all cores in-process, 2 for --cluster local)",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite",
                                            help="develop again files whose output exists")] = False,
    look: Annotated[str, typer.Option(help="look: a name from `rotpunkt looks` or a .toml path")] = "neutral",
) -> None:
    """Develop every raw file under IN_DIR into OUT_DIR, mirroring the folders.

    Runs in this process on all cores, or on Dask (--cluster local, --scheduler ADDRESS), one task per file.
    Outputs are written atomically, so a re-run skips files already developed (unless --overwrite).
    A file that fails prints one line naming it and the reason; the others still develop; exit status 1.
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import batch as rbatch
    from .errors import InvalidParams

    console = _err_console()
    try:
        from .look import load_look

        load_look(look)
        if scheduler is not None and cluster is not None:
            raise InvalidParams("give --scheduler or --cluster, not both")
        if cluster is not None and cluster.lower() != "local":
            raise InvalidParams(f"--cluster must be 'local'; got {cluster!r}")
        if scheduler is not None and workers is not None:
            raise InvalidParams("--workers sizes the local pool or LocalCluster; a scheduler's cluster is "
                                "sized where it runs")
        from .params import validate
        from .pipeline import DevelopParams

        params = validate(DevelopParams(space=space.lower(), look=look))
        jobs = rbatch.plan(in_dir, outdir, fmt=fmt)
        if workers is not None and workers < 1:
            raise InvalidParams(f"--workers must be >= 1; got {workers}")
        if not 1 <= quality <= 100:
            raise InvalidParams(f"--quality must be in [1, 100]; got {quality}")
    except RotpunktError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    if not jobs:
        console.print(f"[yellow]warning:[/] no raw files under {escape(str(in_dir))}")
        console.print("0 developed, 0 skipped, 0 failed")
        return

    counts = {rbatch.DEVELOPED: 0, rbatch.SKIPPED: 0, rbatch.FAILED: 0}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as progress:
        task = progress.add_task("developing", total=len(jobs))

        def report(r: rbatch.Result) -> None:
            counts[r.status] += 1
            if r.status == rbatch.FAILED:
                progress.console.print(f"[red]error:[/] {escape(str(r.job.src))}: {escape(r.error or '')}")
            progress.advance(task)

        try:
            rbatch.run_batch(jobs, params, fmt=fmt, quality=quality, overwrite=overwrite,
                             scheduler=scheduler if scheduler is not None else (cluster and "local"),
                             workers=workers, progress=report)
        except RotpunktError as exc:
            progress.console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
    console.print(f"{counts[rbatch.DEVELOPED]} developed, {counts[rbatch.SKIPPED]} skipped, "
                  f"{counts[rbatch.FAILED]} failed")
    if counts[rbatch.FAILED]:
        raise typer.Exit(1)


@app.command()
def demo(
    outdir: Annotated[Path, typer.Option("-o", "--outdir", help="output folder")] = Path("out"),
    space: Annotated[str, typer.Option(help="srgb or p3")] = "srgb",
) -> None:
    """Develop the small DNG bundled with rotpunkt (an LG G4 phone raw) to OUTDIR/sample.jpg."""
    from . import sample_path

    develop([Path(sample_path())], outdir=outdir, space=space, fmt="jpeg", demosaic=None, quality=95,
            exposure=0.0, overwrite=True, preview=0, look="neutral", engine="auto")


@app.command()
def looks() -> None:
    """List the looks: shipped ones and those in the user folder ($ROTPUNKT_LOOKS or ~/.config/rotpunkt/looks)."""
    from .look import list_looks

    for name, path, summary in list_looks():
        print(f"{name:16s} {summary}")
        print(f"{'':16s} {path}")


@app.command("contact-sheet")
def contact_sheet_cmd(
    src: Annotated[Path, typer.Argument(help="raw file", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="sheet file (.jpg, .png, .tif)")] = Path("sheet.jpg"),
    looks_: Annotated[list[str] | None, typer.Option("--look", help="looks to show (default: all)")] = None,
    width: Annotated[int, typer.Option(help="width of each cell in pixels")] = 360,
    cols: Annotated[int, typer.Option(help="cells per row")] = 3,
) -> None:
    """Render one photo in every look, labelled, side by side."""
    from .errors import InvalidParams
    from .io.write import write
    from .sheet import contact_sheet

    console = _err_console()
    try:
        if not 32 <= width <= 4000 or not 1 <= cols <= 16:
            raise InvalidParams(f"--width must be in [32, 4000] and --cols in [1, 16]; got {width}, {cols}")
        write(contact_sheet(src, looks_ or None, width=width, cols=cols), output, quality=90)
    except RotpunktError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    print(output)


look_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fit looks from JPEGs; export looks.")
app.add_typer(look_app, name="look")


def _read_jpeg(path: Path):
    """A phone JPEG as float32 (H, W, 3) in [0, 1] and its colour space ("p3" when its ICC says so)."""
    import io as _io

    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageCms

    from .errors import CorruptFile

    try:
        with PILImage.open(path) as im:
            icc = im.info.get("icc_profile")
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise CorruptFile(f"not a readable image: {exc}", path) from None
    space = "srgb"
    if icc:
        try:
            desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(_io.BytesIO(icc)))
            space = "p3" if "P3" in desc else "srgb"
        except (OSError, ImageCms.PyCMSError):
            pass
    return rgb, space


@look_app.command("fit")
def look_fit(
    raw: Annotated[list[Path], typer.Option("--raw", help="raw file of a pair (repeat)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="look file to write (.toml)")],
    jpeg: Annotated[list[Path] | None, typer.Option(
        "--jpeg", help="the phone's JPEG of the same shot (repeat; none: each raw's embedded preview)")] = None,
    holdout_raw: Annotated[Path | None, typer.Option(help="a held-out pair's raw, to report the error on")] = None,
    holdout_jpeg: Annotated[Path | None, typer.Option(
        help="the held-out pair's JPEG (none: the held-out raw's embedded preview)")] = None,
    name: Annotated[str, typer.Option(help="the look's name")] = "fitted",
) -> None:
    """Fit a look (tone curve + colour) that makes rotpunkt's render match the phone's own JPEGs (separate
    files, or the previews embedded in the DNGs when no --jpeg is given)."""
    import dataclasses

    from .errors import InvalidParams
    from .io import read
    from .look import look_to_toml
    from .lookfit import fit_look
    from .pipeline import DevelopParams, scene_linear

    console = _err_console()

    def render(path: Path):
        data, meta = read(path)
        return scene_linear(data, meta, dataclasses.replace(DevelopParams(), space="rec2020"))[0]

    def rendering(raw_path: Path, jpeg_path: Path | None):
        """The phone's rendering: the JPEG file, or the preview embedded in the DNG."""
        if jpeg_path is not None:
            return _read_jpeg(jpeg_path)
        from .io.dng import embedded_preview

        return embedded_preview(raw_path), "srgb"

    try:
        jpeg = jpeg or []
        if not raw or (jpeg and len(raw) != len(jpeg)):
            raise InvalidParams(f"give one --jpeg per --raw, or none (embedded previews); got {len(raw)} raw "
                                f"and {len(jpeg)} JPEG files")
        if holdout_raw is None and holdout_jpeg is not None:
            raise InvalidParams("--holdout-jpeg needs --holdout-raw")
        pairs, spaces = [], set()
        for r, j in zip(raw, jpeg or [None] * len(raw), strict=True):
            img, space = rendering(r, j)
            pairs.append((render(r), img))
            spaces.add(space)
        holdout = None
        if holdout_raw is not None:
            img, space = rendering(holdout_raw, holdout_jpeg)
            holdout = (render(holdout_raw), img)
            spaces.add(space)
        if len(spaces) > 1:
            raise InvalidParams("the JPEGs mix sRGB and Display P3; fit them separately")
        look, report = fit_look(pairs, name=name, holdout=holdout, jpeg_space=spaces.pop())
        from .io.write import write_text

        write_text(output, look_to_toml(look, header=report.text()))
    except RotpunktError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    print(report.text())


@look_app.command("export")
def look_export(
    look: Annotated[str, typer.Argument(help="look name or .toml path")],
    output: Annotated[Path, typer.Option("-o", "--output", help=".cube file to write")],
    size: Annotated[int, typer.Option(help="LUT points per axis (33 or 65)")] = 33,
    space: Annotated[str, typer.Option(help="output primaries of the LUT: srgb, p3 or rec2020")] = "srgb",
) -> None:
    """Export a look's global colour and tone as a 3D LUT (.cube) for other tools."""
    from .look import export_cube, load_look

    console = _err_console()
    try:
        export_cube(load_look(look), output, size=size, space=space)
    except RotpunktError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    print(output)


def _jsonable(v):
    import numpy as np

    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, bytes):
        return None
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def metadata_summary(path: Path) -> dict:
    """The metadata that matters, as a JSON-ready dict (pixels are not decoded)."""
    from . import io as rio
    from .io.dng import COMPRESSION_NAMES, read_dng
    from .stages import opcodes

    if rio._is_tiff(os.fspath(path)):
        try:
            _, meta = read_dng(path, decode=False)
        except RotpunktError as exc:
            if "not a DNG" not in exc.reason:
                raise
            _, meta = rio.read(path, reader="libraw")
    else:
        _, meta = rio.read(path, reader="libraw")
    c = meta.color
    cfa = None
    if meta.cfa_pattern is not None:
        cfa = "".join("RGB"[i] for i in meta.cfa_pattern.ravel())
    ops = {}
    for i, raw in enumerate(meta.opcode_lists, start=1):
        if raw:
            ops[f"OpcodeList{i}"] = opcodes.describe(opcodes.parse_opcode_list(raw, path=meta.path))
    ex = meta.exif
    return {
        "file": str(path),
        "reader": meta.source,
        "camera": " ".join(x for x in (ex.make, ex.model) if x) or meta.unique_camera_model,
        "unique_camera_model": meta.unique_camera_model,
        "dng_version": ".".join(map(str, meta.dng_version)) if meta.dng_version else None,
        "size": [meta.width, meta.height],
        "photometric": meta.photometric,
        "cfa": cfa,
        "compression": COMPRESSION_NAMES.get(meta.compression, str(meta.compression)),
        "bits_per_sample": meta.bits_per_sample,
        "sample_format": meta.sample_format,
        "black_level": _jsonable(meta.black_level.ravel()),
        "white_level": _jsonable(meta.white_level),
        "active_area": _jsonable(meta.active_area),
        "default_crop": _jsonable(meta.default_crop),
        "orientation": meta.orientation,
        "calibration_illuminants": list(c.calibration_illuminant),
        "color_matrices": sum(m is not None for m in c.color_matrix),
        "forward_matrices": sum(m is not None for m in c.forward_matrix),
        "as_shot_neutral": _jsonable(c.as_shot_neutral),
        "as_shot_white_xy": _jsonable(c.as_shot_white_xy),
        "baseline_exposure": c.baseline_exposure + c.baseline_exposure_offset,
        "profile": c.profile_name,
        "hue_sat_map": list(c.hue_sat_map[0].dims) if c.hue_sat_map[0] is not None else None,
        "look_table": list(c.look_table.dims) if c.look_table is not None else None,
        "opcodes": ops,
        "exif": {"exposure_time": ex.exposure_time, "iso": ex.iso, "f_number": ex.f_number,
                 "focal_length": ex.focal_length, "datetime": ex.datetime, "lens": ex.lens},
    }


@app.command()
def info(
    inputs: Annotated[list[Path], typer.Argument(help="raw files", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the metadata that matters: camera, size, CFA, compression, opcodes, illuminants."""
    console = _err_console()
    out, failed = [], 0
    for path in inputs:
        try:
            out.append(metadata_summary(path))
        except RotpunktError as exc:
            console.print(f"[red]error:[/] {exc}")
            failed += 1
    if as_json:
        print(json.dumps(out if len(inputs) > 1 else (out[0] if out else {}), indent=2, default=_jsonable))
    else:
        for d in out:
            print(d["file"])
            for k, v in d.items():
                if k == "file" or v in (None, {}, []):
                    continue
                if k == "opcodes":
                    for name, lines in v.items():
                        print(f"  {name}:")
                        for line in lines:
                            print(f"    {line}")
                    continue
                if k == "exif":
                    v = ", ".join(f"{a}={b}" for a, b in v.items() if b is not None)
                print(f"  {k:24s} {v}")
    if failed:
        raise typer.Exit(1)


def main() -> None:  # console script entry point
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
