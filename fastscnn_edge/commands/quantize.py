"""`fastscnn-edge quantize`: an fp32 export -> FP16 or INT8 Q/DQ ONNX, validated against fp32 on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from fastscnn_edge.commands import options
from fastscnn_edge.core.errors import UserError


def quantize_cmd(
    model: Path = typer.Argument(..., help="The fp32 .onnx written by `fastscnn-edge export`."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 graph, I/O types unchanged (ModelOpt AutoCast or onnxconverter-common)."),
    int8: bool = typer.Option(False, "--int8", help="INT8 Q/DQ graph calibrated on --calib images (or reusing --cache)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images: a folder (recursive) or a .txt list, one path per line."),
    form: Optional[str] = typer.Option(None, "--form", help="INT8 form: tensorrt (default; TensorRT's Q/DQ placement, int8 weights) | cpu (for onnxruntime on x86: uint8 activations, every op quantized, the refined cls head) | openvino (NNCF's post-training quantization, for OpenVINO; needs the [openvino] extra)."),
    res: Optional[str] = options.res("HxW to calibrate and validate at: required for INT8 of a dynamic export (the deployment size); FP16 of one is validated at 256x512 unless given."),
    calib_method: str = typer.Option("entropy", "--calib-method", help="entropy | minmax | percentile (minmax is often safer for segmentation)."),
    calib_percentile: Optional[float] = typer.Option(None, "--calib-percentile", help="With --calib-method percentile: the percentile of |x| a range ends at (onnxruntime's default 99.999; e.g. 99.99 clips more outliers)."),
    calib_count: Optional[int] = typer.Option(None, "--calib-count", help="Use N images, evenly spaced over the sorted list (default: all)."),
    holdout: Optional[float] = typer.Option(None, "--holdout", help="Fraction of --calib set aside (every k-th image) to measure agreement/mIoU on; never calibrated on. Default 0.1, or 0 with --val."),
    val: Optional[Path] = typer.Option(None, "--val", help="Measure agreement (and mIoU where ground truth sits beside the images) on these images instead: a folder, a Cityscapes root (its val split) or a .txt list."),
    fp32_weights: bool = typer.Option(False, "--fp32-weights", help="TensorRT form: keep fp32 weights behind Q/DQ pairs (default: int8 weights behind DequantizeLinear, 4x smaller)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Calibration cache JSON to reuse/write (default: <output stem>.calib.json). With no --calib it is reused alone."),
    min_agreement: Optional[float] = typer.Option(None, "--min-agreement", help="Fail (exit 4, nothing written) if pixel agreement with fp32 is under this fraction, e.g. 0.999. Default: report only (warn under 0.999 for fp16)."),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="INT8: measure what quantizing each layer alone costs on the held-out images and print them ranked (layer names are the checkpoint's module paths, with the paper's module)."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", help="INT8: keep the fewest layers float that stay within this many points of fp32 (mIoU points where the held-out images have ground truth, else pixel-agreement points); exit 4, nothing written, if it cannot be met."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="INT8: keep this layer float (a module path such as global_feature_extractor.bottleneck1.0.conv_dw.0, or a prefix such as global_feature_extractor.ppm); repeat it, or separate names with commas."),
    float_type: str = typer.Option("fp32", "--float", help="INT8 TensorRT form: what the parts left float (the --max-drop/--exclude layers, the classifier, everything not quantized) compute in: fp32, or fp16 (opset 19, FP16 Q/DQ scales; for strongly typed TensorRT 10.x/11.x/RTX; on 8.x build the fp32 file with build-engine --int8 --fp16 instead)."),
    json_out: Optional[Path] = options.json_out("INT8 with --sensitivity/--max-drop/--exclude: write the plan (every layer's score, the float layers, their cost) here."),
    output: Optional[Path] = options.output(help="Output .onnx. Default: beside MODEL as <stem>.fp16.onnx / .int8.onnx / .int8-cpu.onnx."),
    no_validate: bool = typer.Option(False, "--no-validate", help="Skip the onnxruntime fp32-vs-quantized check (not recommended)."),
) -> None:
    """Write a precision-explicit ONNX (FP16, or INT8 Q/DQ with calibration) for TensorRT or onnxruntime."""
    from fastscnn_edge.core.fileio import human_size
    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.quantize.convert import FORMS, METHODS, Int8Options, cpu_only_machine, describe, to_fp16, to_int8
    from fastscnn_edge.runtime.artifact import Artifact

    if fp16 == int8:
        raise UserError("pass exactly one of --fp16 and --int8.", fix="e.g. `fastscnn-edge quantize MODEL.onnx --fp16`.")
    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise UserError(f"--min-agreement {min_agreement} is not a fraction in 0..1.", fix="pass e.g. --min-agreement 0.999.")
    if fp16 and (calib is not None or cache is not None or calib_count is not None or holdout is not None
                 or val is not None or form is not None or fp32_weights):
        raise UserError("--calib/--cache/--calib-count/--holdout/--val/--form/--fp32-weights apply to --int8 only.",
                        fix="drop them, or use --int8.")
    if int8 and form is not None and form not in FORMS:
        raise UserError(f"unknown --form {form!r}.", fix=f"use one of: {', '.join(FORMS)}.")
    if int8 and calib_method not in METHODS:
        raise UserError(f"unknown --calib-method {calib_method!r}.", fix=f"use one of: {', '.join(METHODS)}.")
    names = [n for item in exclude or [] for n in item.split(",") if n.strip()]
    if fp16 and (sensitivity or max_drop is not None or names or json_out is not None or float_type != "fp32"):
        raise UserError("--sensitivity/--max-drop/--exclude/--json/--float apply to --int8 only.", fix="drop them, or use --int8.")
    if max_drop is not None and not max_drop >= 0:
        raise UserError(f"--max-drop {max_drop} is negative.", fix="pass the points you accept to lose, e.g. --max-drop 0.5.")
    if json_out is not None and not (sensitivity or max_drop is not None or names):
        raise UserError("--json writes the mixed-precision plan; it needs --sensitivity, --max-drop or --exclude.",
                        fix="add one of them, or drop --json.")
    if json_out is not None:
        from fastscnn_edge.core.fileio import check_writable

        check_writable(json_out)
    if int8 and calib is None and cache is None:
        raise UserError("--int8 needs calibration images or a calibration cache.",
                        fix="pass --calib DIR (or a .txt list), or --cache FILE from an earlier run.")

    def log(text: str) -> None:
        typer.echo(text, err=True)

    hint_cpu = int8 and form is None and cpu_only_machine()
    form = form or "tensorrt"
    size = parse_resolution(res) if res else None
    source = Artifact.open(model)  # read once for the whole command

    if fp16:
        result = to_fp16(source, output, validate=not no_validate, min_agreement=min_agreement, log=log, res=size)
        nxt = f"fastscnn-edge build-engine {result.path}"
    else:
        from fastscnn_edge.commands.progress import bar

        with bar(transient=True) as progress:
            opts = Int8Options(form=form, method=calib_method, percentile=calib_percentile, count=calib_count,
                               cache=cache, holdout=holdout, val=val, fp32_weights=fp32_weights,
                               validate=not no_validate, min_agreement=min_agreement, res=size, exclude=names,
                               max_drop=max_drop, sensitivity=sensitivity, float_type=float_type)
            result = to_int8(source, output, calib, options=opts, log=log, progress=progress)
        nxt = (f"fastscnn-edge build-engine {result.path}" if form == "tensorrt"
               else f"fastscnn-edge bench {result.path} --backend {'openvino' if form == 'openvino' else 'onnxruntime'}")
        if result.cache is not None:
            cache_note = "reused" if result.cache_reused else "written"
            typer.echo(f"calibration: {result.meta.extra['calib_count']} image(s), {calib_method}, cache {cache_note}: {result.cache}")
        else:
            typer.echo(f"calibration: {result.meta.extra['calib_count']} image(s), {result.meta.extra['converter']}")
        for o in result.outliers[:5]:
            typer.echo(f"calibration outlier: {o.tensor} (read by {', '.join(o.layers)}): max |x| {o.max_abs:.3g}, "
                       f"{o.max_abs / o.p9999 if o.p9999 > 0 else float('inf'):.0f}x its 99.99th percentile, widest channel "
                       f"{o.channel_ratio:.0f}x the median channel ({o.kind}): {o.advice()}")
        if len(result.outliers) > 5:
            typer.echo(f"calibration outliers: {len(result.outliers) - 5} more tensor(s) like these")
    if result.plan is not None:
        from fastscnn_edge.quantize import sensitivity as sens

        if result.plan.sensitivity:
            # asked for: every layer (the first 15 where --json holds them all); else the ones that matter
            top = (None if json_out is None else 15) if sensitivity else 10
            typer.echo("\n".join(sens.table(result.plan, top=top)))
        typer.echo("\n".join(sens.summary(result.plan)))
    if json_out is not None and result.plan is not None:
        import json

        from fastscnn_edge.core.fileio import atomic_write_text

        atomic_write_text(json_out, json.dumps({"model": str(model), "output": str(result.path), "form": form,
                                                "calib_method": calib_method, **result.plan.to_json()}, indent=2) + "\n")
    check = describe(result.validation, result.checked_on) if result.validation else "not validated"
    typer.echo(f"vs fp32 on CPU{' (OpenVINO, both)' if form == 'openvino' else ''}: {check}")
    head = ", refined cls head" if result.meta.extra.get("cls_head_layout") == "refine" else ""
    typer.echo(f"{result.path}  {result.meta.precision}{'' if fp16 else f' ({form}{head})'}  {human_size(result.size)}  "
               f"in {result.seconds:.1f} s -> next: {nxt}")
    if hint_cpu:  # after the work, so that an error stays the only line
        log("note: no TensorRT or NVIDIA GPU here; this is the TensorRT form. If the model will run on this "
            "CPU (onnxruntime), pass --form cpu: that form is the fast one there.")


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize_cmd)
