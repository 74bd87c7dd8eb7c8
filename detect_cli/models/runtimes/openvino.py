"""OpenVINO: Ultralytics' OpenVINO export, run by attn-detect's own runner (`openvino_direct`: no
torch, no Ultralytics) when the first run's check passes it, else by Ultralytics' wrapper. INT8 is a
precision of this runtime (`int8_trial`), made from its verified FP32 export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detect_cli.models.cache_files import EntryMismatch, inside
from detect_cli.models.runtimes.base import Loader, Runtime

if TYPE_CHECKING:
    from detect_cli.models.decision import Decision
    from detect_cli.models.detector import Detector

DIRECT = "direct"


class OpenVINO(Runtime):
    def export(self, detector: Detector, folder: Path, imgsz: int) -> Path:
        """With dynamic shapes: our runner reshapes it to each picture's own shape (`openvino_direct`)."""
        from detect_cli.models.export import FORMATS, export_model

        return export_model(detector, FORMATS["openvino"], folder, imgsz=imgsz, dynamic=True)

    def loaders(self, detector: Detector, path: Path, threads: int) -> list[tuple[str, Loader]]:
        """Our runner first; it compiles into `compiled/` beside the export (OpenVINO's model cache,
        published with it), so later runs import that instead of compiling."""
        from detect_cli.models.openvino_direct import COMPILED, open_openvino

        def direct() -> Detector:
            return open_openvino(next(path.glob("*.xml")), detector, threads=threads, compiled=path.parent / COMPILED)

        return [(DIRECT, direct), *super().loaders(detector, path, threads)]

    def discard_compiled(self, path: Path) -> None:
        """What our runner compiled while being checked, when it will not run (the wrapper will)."""
        import shutil

        from detect_cli.models.openvino_direct import COMPILED

        shutil.rmtree(path.parent / COMPILED, ignore_errors=True)

    def open_cached(self, detector: Detector, entry: Path, decision: Decision, threads: int) -> Detector:
        if decision.runner != DIRECT:
            return super().open_cached(detector, entry, decision, threads)
        from detect_cli.models.openvino_direct import COMPILED, open_openvino

        (xml,) = [name for name in decision.files if name.endswith(".xml")]
        compiled = self.folder(entry) / COMPILED
        has_compiled = any(name.startswith(f"{self.name}/{COMPILED}/") for name in decision.files)
        from detect_cli.models.shape_cache import SHAPES

        exported = open_openvino(
            inside(entry, xml),
            detector,
            threads=threads,
            compiled=compiled if has_compiled else None,
            shapes=entry / SHAPES if has_compiled else None,  # compiled input shapes, checked before use
        )
        verified_hw = tuple(decision.checked.get("input_hw") or ())
        if exported.input_hw != verified_hw:
            raise EntryMismatch(f"the export's input is {exported.input_hw}, verified at {list(verified_hw)}")
        return exported

    def open_export(self, path: Path, origin: Detector, *, threads: int = 0) -> Detector:
        """An OpenVINO `.xml` (beside its `.bin`) on our runner, answering for `origin` (export --int8)."""
        from detect_cli.models.openvino_direct import open_openvino

        return open_openvino(path, origin, threads=threads)

    def runner_of(self, detector: Detector) -> str | None:
        from detect_cli.models.openvino_direct import OpenVINODetector

        if isinstance(detector, OpenVINODetector):
            return DIRECT
        return super().runner_of(detector)

    def shipped_facts(self, detector: Detector, origin: Any) -> dict[str, Any] | None:
        if self.runner_of(detector) != DIRECT:
            return None
        return {  # what our runner needs of the model the export was made from
            "runtime": self.name,
            "names": dict(detector.names),
            "end2end": detector.end2end_capable,
            "stride": detector.stride,
            "origin": origin or detector.ref,
            "precision": detector.precision,  # int8: the quantized export that passed its accuracy gate
        }

    def open_shipped(self, facts: dict[str, Any], folder: Path, *, threads: int) -> Detector:
        """The shipped export on our runner (no torch), answering for the model it was made from; it
        runs on the CPU in fp32 (or the int8 that passed its gate), as verified."""
        from detect_cli.models.detector import Detector
        from detect_cli.models.openvino_direct import open_openvino

        origin = Detector(
            ref=facts["origin"],
            names=dict(facts["names"]),
            device="cpu",
            half=False,
            end2end_capable=facts["end2end"],
            load_s=0.0,
            stride=facts["stride"],
        )
        xmls = sorted(folder.glob("*.xml"))
        if len(xmls) != 1:
            raise FileNotFoundError(f"{len(xmls)} OpenVINO .xml files in the shipped export")
        return replace(open_openvino(xmls[0], origin, threads=threads), precision=facts.get("precision", "fp32"))


OPENVINO = OpenVINO("openvino", "OpenVINO", "openvino", "openvino", runners=(DIRECT, "ultralytics"), quantizes=True)
