"""Providers are folders (channels_app/providers/<slug>/): each complete, each offered, each indexed."""

import pytest

from channels_app import providers


@pytest.mark.parametrize("slug", providers.slugs())
def test_every_provider_folder_has_its_preset_page_samples_and_test(slug):
    folder = providers.PROVIDERS_DIR / slug
    preset = providers.load(slug)
    assert preset["name"] and preset["description"] and preset["data_format"] in ("json", "form")
    assert (folder / "README.md").read_text().startswith("# ")
    samples = [path for path in (folder / "samples").iterdir() if path.name != "README.md"]
    assert samples and all(path.name.startswith(f"{slug}_") for path in samples), "samples are named for their provider"
    assert (folder / "samples" / "README.md").exists(), "where the samples come from"
    assert (folder / f"test_{slug}.py").exists()


def test_the_providers_are_the_seed_ones_and_the_others_connected_so_far():
    assert set(providers.slugs()) >= {
        "generic",
        "setera",
        "phonon",
        "wildix",
        "twilio",
        "aircall",
        "telnyx",
        "vonage",
        "zadarma",
        "binotel",
        "sipgate",
    }


@pytest.mark.django_db
def test_the_admins_preset_picker_offers_every_provider(admin_client):
    page = admin_client.get("/admin/channels_app/telephonychannel/add/").content.decode()
    for slug, preset in providers.all_presets().items():
        assert f'<option value="{slug}">{preset["name"]}</option>' in page


def test_the_index_of_providers_is_the_one_the_folders_give():
    readme = (providers.PROVIDERS_DIR / "README.md").read_text()
    assert readme == providers.index_with_table(readme), "run: python -m channels_app.providers"
