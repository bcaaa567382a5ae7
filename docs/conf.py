"""Sphinx configuration: numpydoc API reference, sphinx-gallery examples, MyST pages.

Build (from the repository root)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

``SKMETA_DOCS_PLOT_GALLERY=0`` skips running the gallery scripts (their code is still shown).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the checkout's skmeta, installed or not

import skmeta  # noqa: E402

project = "skmeta"
author = "skmeta developers"
copyright = "skmeta developers, BSD-3-Clause"
release = skmeta.__version__
version = re.sub(r"\.dev\d*$", "", release)

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
templates_path = ["_templates"]

# -- MyST: the Markdown pages are kept as they are --------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# -- API reference ----------------------------------------------------------------------
autosummary_generate = True
# _templates/autosummary/class.rst documents the members inherited from skmeta's own
# bases, not those of scikit-learn's and torch's (documented on their sites, with labels
# that do not resolve here).
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# Every public module whose ``__all__`` the API reference must cover, in page order.
API_MODULES = [
    "skmeta",
    "skmeta.tasks",
    "skmeta.datasets",
    "skmeta.nn",
    "skmeta.evaluation",
    "skmeta.multitask",
    "skmeta.base",
    "skmeta.search",
    "skmeta.benchmarks",
]

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
}
# The build must not need the network (CI machines may have none): intersphinx inventories
# are fetched only when SKMETA_DOCS_INTERSPHINX=1.
if os.environ.get("SKMETA_DOCS_INTERSPHINX") != "1":
    intersphinx_mapping = {}

# -- Example gallery --------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # only plot_* scripts run during the build; the others are shown with their code
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": os.environ.get("SKMETA_DOCS_PLOT_GALLERY", "True"),
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skmeta",),
    "reference_url": {"skmeta": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}

# -- HTML -------------------------------------------------------------------------------
try:
    import pydata_sphinx_theme  # noqa: F401
except ImportError:  # the build still works with Sphinx's default theme
    html_theme = "alabaster"
else:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navbar_align": "left",
        "show_toc_level": 2,
        "secondary_sidebar_items": ["page-toc"],
    }
html_title = f"skmeta {release}"
html_static_path: list[str] = []


def _check_api_reference_is_complete(app):
    """Fail the build when a name exported by a public module is missing from api.rst.

    Each ``.. module::`` section lists its module's ``__all__``; a name re-exported from a
    module documented earlier (``skmeta.multitask.MultiTaskRegressor`` is
    ``skmeta.MultiTaskRegressor``) is documented once, in that earlier section.
    """
    sections = re.split(r"^\.\. module:: ", (DOCS / "api.rst").read_text(), flags=re.M)[1:]
    listed = {
        section.split("\n", 1)[0].strip(): set(re.findall(r"^ {3}(\w+)$", section, flags=re.M))
        for section in sections
    }
    documented, missing = set(), []
    for module_name in API_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:  # not written yet: its section must not exist either
            if module_name in listed:
                missing.append(f"{module_name} (listed, but it does not import)")
            continue
        if not hasattr(module, "__all__"):  # a package being written, with no exports yet
            continue
        names = [name for name in module.__all__ if not name.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            key = id(obj) if isinstance(obj, type) or callable(obj) else (module_name, name)
            if name in listed.get(module_name, ()):
                documented.add(key)
            elif key not in documented:
                missing.append(f"{module_name}.{name}")
    if missing:
        raise RuntimeError("docs/api.rst does not list: " + ", ".join(missing))


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    """``set_{fit,predict,...}_request`` are generated by scikit-learn for every estimator."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def _drop_type_docstring_of_constants(app, what, name, obj, options, lines):
    """A constant such as ``skmeta.nn.BACKBONES`` has no docstring of its own: autodoc
    would show its type's (``tuple``'s), so show none."""
    type_doc = (type(obj).__doc__ or "").strip().splitlines()
    if what == "data" and lines and type_doc and lines[0].strip() == type_doc[0].strip():
        lines.clear()


def setup(app):
    app.connect("builder-inited", _check_api_reference_is_complete, priority=100)
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
    app.connect("autodoc-process-docstring", _drop_type_docstring_of_constants, priority=100)
