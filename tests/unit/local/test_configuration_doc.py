"""docs/configuration.md is generated from the settings models and must be current."""

from tidewatch_local.settings_doc import DOC_PATH, render


def test_configuration_doc_is_current() -> None:
    # If this fails: python -m tidewatch_local.settings_doc
    assert DOC_PATH.read_text() == render()


def test_every_setting_is_explained() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| `")]
    assert rows
    undocumented = [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    assert not undocumented, f"settings without a description: {undocumented}"


def test_readme_configuration_section_is_current() -> None:
    from tidewatch_local.settings_doc import README_PATH, render_readme

    readme = README_PATH.read_text()
    assert readme == render_readme(readme)
