"""The study pages, registered in one place: adding a study to the app means one page module and one line
here. The app imports no study from another: each page reads its own study's results folder."""

from __future__ import annotations

from importlib import import_module

# study name -> "module:class" (imported when the app is built, so one broken page cannot stop the others)
REGISTRY = {
    "images": "skytext.serve.pages.images:ImagesPage",
    "spectra": "skytext.serve.pages.spectra:SpectraPage",
    "transients": "skytext.serve.pages.transients:TransientsPage",
    "analysis": "skytext.serve.pages.analysis:AnalysisPage",
}


def page_class(study: str):
    """The page class registered for ``study``."""
    module, cls = REGISTRY[study].split(":")
    return getattr(import_module(module), cls)
