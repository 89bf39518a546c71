"""Build steps pyproject.toml cannot declare. A wheel carries, besides the packages and
their package data, the diagrams of bpmn/ (as workflows/bpmn, which `warmflow init-db`
deploys when installed) and the English catalogue compiled from its .po (git keeps only
the .po). An editable install (`make setup`) reads bpmn/ in place and the catalogue the
Makefile compiles."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib)
        diagrams = target / "workflows" / "bpmn"
        diagrams.mkdir(parents=True, exist_ok=True)
        for source in sorted([*ROOT.glob("bpmn/*.bpmn"), *ROOT.glob("bpmn/*.dmn")]):
            self.copy_file(str(source), str(diagrams / source.name))
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted(ROOT.glob("webapp/translations/*/LC_MESSAGES/messages.po")):
            mo = target / po.relative_to(ROOT).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parts[-3])
            with mo.open("wb") as compiled:
                write_mo(compiled, catalog)


setup(cmdclass={"build_py": BuildPy})
