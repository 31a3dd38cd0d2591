"""mkdocs hook: publish the notebooks of ``notebooks/`` as pages of the site.

The notebooks live at the repository root, next to the packages, so that they
can be opened and run from a checkout. mkdocs only builds files inside
``docs/``; this hook adds every ``notebooks/*.ipynb`` to the site's files
before mkdocs-jupyter turns notebooks into pages, so the nav can list them as
``notebooks/<name>.ipynb``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files


@event_priority(100)  # mkdocs-jupyter's on_files (priority 0) must see the notebooks
def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).parent
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        files.append(
            File(
                notebook.relative_to(root).as_posix(),
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files
