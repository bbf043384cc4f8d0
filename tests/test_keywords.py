"""The offline ``keywords`` summariser on abstracts written in the style of real HST proposals.

On the real catalogue the first vocabulary read the Coma *cluster* as a comet's coma and gave the generic
'search for new objects' to almost half the abstracts; these cases pin the fixes down.
"""

from pathlib import Path

import pytest

from skytext.llm.keywords import keyword_summary, load_vocabulary, mentions
from skytext.llm.schema import MAX_ITEMS, SchemaViolation, validate_summary

VOCAB = Path(__file__).resolve().parents[1] / "resources" / "vocab" / "astro_terms.yaml"
GENERIC = "search for new objects"

# (title, category, abstract, objects expected (any may come first), objects that must not appear,
#  use cases expected)
ABSTRACTS = {
    "coma_udgs": (
        "The Nature of Ultra-Diffuse Galaxies in the Coma Cluster",
        "Galaxies",
        "Ultra-diffuse galaxies (UDGs) have the sizes of the Milky Way but the stellar masses of dwarf galaxies. "
        "The Coma cluster hosts hundreds of them, and their survival in the harsh cluster environment suggests "
        "massive dark matter halos. We propose deep ACS/WFC imaging of 12 UDGs in Coma to count their globular "
        "cluster systems, whose richness traces the total halo mass. Combined with velocity dispersions from "
        "Keck spectroscopy, the globular cluster counts will test whether UDGs are failed Milky Way-like "
        "galaxies or puffed-up dwarfs, and how the Coma Cluster environment shapes their evolution.",
        ["low surface brightness galaxies", "galaxy clusters"],
        ["comets"],
        ["measure proper motions and kinematics"],
    ),
    "comet_46p": (
        "Outgassing and Nucleus Rotation of Comet 46P/Wirtanen",
        "Solar System",
        "We will use WFC3 to image the inner coma of Jupiter-family comet 46P/Wirtanen during its close "
        "approach to Earth. Repeated imaging over ten orbits will resolve jets and fans in the dust coma and "
        "measure the rotation period of the nucleus from their motion. Simultaneous STIS ultraviolet spectra "
        "will measure the water production rate from OH emission and the CO/H2O ratio, constraining the "
        "volatile composition of the comet and how its activity evolves with heliocentric distance.",
        ["comets"],
        ["giant planets", "stellar jets and outflows", "galaxy clusters"],
        ["study cometary activity and composition"],
    ),
    "hot_jupiter": (
        "A Panchromatic Transmission Spectrum of the Ultra-Hot Jupiter WASP-121b",
        "Exoplanets and Exoplanet Formation",
        "We propose to observe three transits of the ultra-hot Jupiter WASP-121b with STIS and WFC3 to "
        "measure its transmission spectrum from 0.3 to 1.7 microns. The spectrum will reveal water absorption, "
        "the thermal inversion caused by TiO and VO, and the signature of atmospheric escape in the "
        "near-ultraviolet. Together with Spitzer secondary eclipses, these data constrain the atmospheric "
        "metallicity and C/O ratio of the planet and test how hot Jupiters form and migrate.",
        ["exoplanets"],
        ["giant planets"],
        ["characterise exoplanet atmospheres"],
    ),
    "cepheids_h0": (
        "Cepheids in SN Ia Host Galaxies: Toward a 1% Hubble Constant",
        "Stellar Physics",
        "The tension between the local measurement of the Hubble constant and its value inferred from the "
        "cosmic microwave background has reached 5 sigma. We will observe Cepheid variables in the hosts of "
        "eight recent type Ia supernovae with WFC3/IR to extend the Cepheid calibration of the SN Ia "
        "luminosity. Near-infrared light curves reduce the effects of dust and metallicity on the Leavitt law, "
        "and the new hosts will shrink the uncertainty in the distance ladder, testing whether physics beyond "
        "the standard cosmological model is required.",
        ["variable stars", "supernovae"],
        [],
        ["measure the Hubble constant", "measure distances"],
    ),
    "cgm_absorption": (
        "Mapping the Circumgalactic Medium of Star-Forming Galaxies with Quasar Absorption Lines",
        "Intergalactic Medium and Quasar Absorption Lines",
        "The circumgalactic medium (CGM) holds as many baryons as the stars in galaxies, yet its origin and fate "
        "remain uncertain. We propose COS far-ultraviolet spectroscopy of 20 UV-bright background quasars whose "
        "sightlines pass within 150 kpc of foreground star-forming galaxies at z~0.2. Absorption from HI, OVI, "
        "SiIII and CIV will measure the column density, kinematics and ionization state of the gas as a "
        "function of impact parameter and galaxy mass, testing whether galactic outflows recycle metals into "
        "the disk.",
        ["circumgalactic medium"],
        [],
        ["study the circumgalactic and intergalactic medium"],
    ),
    "m31_sfh": (
        "Resolved Star Formation Histories Across the Disk of M31",
        "Stellar Populations",
        "The Andromeda galaxy offers the only view of a large spiral disk in which individual stars can be "
        "resolved over its whole extent. We will use ACS and WFC3 to obtain deep six-band photometry of 100 "
        "million stars in the northeast quadrant of M31. Fitting colour-magnitude diagrams with stellar "
        "evolution models will yield spatially resolved star formation histories over the last 500 Myr, which "
        "we will compare with UV and H-alpha star formation rate indicators and with the distribution of "
        "molecular gas to calibrate the star formation law.",
        ["spiral galaxies"],
        [],
        ["reconstruct star formation histories", "measure star formation", "study colour magnitude diagrams"],
    ),
    "abell2744_lensing": (
        "Dark Matter Substructure in the Merging Cluster Abell 2744",
        "Cosmology",
        "Abell 2744 is a violent merger of at least four galaxy clusters. We will combine strong and weak "
        "lensing constraints from deep ACS imaging with more than 100 spectroscopically confirmed multiple "
        "images to build a high-resolution mass map of the cluster core, and compare the offsets between the "
        "dark matter, the cluster galaxies and the hot intracluster gas seen by Chandra to constrain the "
        "self-interaction cross-section of dark matter.",
        ["galaxy clusters", "dark matter", "gravitational lensing"],
        [],
        ["map the dark matter distribution"],
    ),
    "jupiter_aurora": (
        "Jupiter's Ultraviolet Aurora and the Io Plasma Torus during Juno Perijoves",
        "Solar System",
        "Jupiter's main auroral oval is powered by currents that couple the planet's magnetosphere to its "
        "rapidly rotating upper atmosphere, while the footprint of Io traces the moon's electrodynamic "
        "interaction. We request STIS far-ultraviolet imaging of both poles simultaneous with Juno perijoves "
        "to monitor the auroral power and morphology on timescales of minutes, and to relate the brightening "
        "of the Io footprint to volcanic activity and to the density of the plasma torus.",
        ["aurorae", "giant planets", "moons and satellites"],
        [],
        ["monitor variability"],
    ),
}


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary(VOCAB)


@pytest.mark.parametrize("name", sorted(ABSTRACTS))
def test_realistic_abstracts_get_the_right_classes_and_no_generic_use_case(vocab, name):
    title, category, abstract, objects, not_objects, uses = ABSTRACTS[name]
    got = keyword_summary(vocab, title, category, abstract)
    assert validate_summary(got) == got and all(1 <= len(v) <= MAX_ITEMS for v in got.values())
    assert got["objects_and_phenomena"][0] in objects, got
    assert set(objects) <= set(got["objects_and_phenomena"]), got
    assert not set(not_objects) & set(got["objects_and_phenomena"]), got
    assert set(uses) <= set(got["science_use_cases"]), got
    assert GENERIC not in got["science_use_cases"], got


def test_coma_cluster_is_a_galaxy_cluster_and_a_comet_coma_is_not(vocab):
    objects = vocab.terms["objects_and_phenomena"]
    found = mentions("Galaxies of the Coma cluster and the COMA CLUSTER.", objects)
    assert [c for c, _ in found] == ["galaxy clusters", "galaxy clusters"]  # one mention each, no 'comets'
    assert [c for c, _ in mentions("The coma brightened.", objects)] == []
    assert {c for c, _ in mentions("Dust in the inner coma of the comet.", objects)} == {"comets"}


def test_whole_words_plurals_and_the_longest_phrase_consuming_its_text(vocab):
    objects = vocab.terms["objects_and_phenomena"]

    def classes(text):
        return [c for c, _ in mentions(text, objects)]

    assert classes("dwarf galaxies and a dwarf galaxy") == ["dwarf galaxies", "dwarf galaxies"]
    assert classes("planetary nebulae") == ["planetary nebulae"]
    assert classes("hot Jupiters") == ["exoplanets"]  # not also 'giant planets'
    assert classes("dark matter haloes") == ["dark matter"]  # not also a galaxy halo
    assert classes("comatose cometary-like") == []  # whole words only
    assert classes("Io and io") == ["moons and satellites"]  # a proper name keeps its capital
    assert classes("nearby agn") == []  # an acronym keeps its case


def test_the_generic_use_case_is_only_a_last_resort(vocab):
    survey = "A snapshot survey to discover binary Kuiper Belt objects"
    assert keyword_summary(vocab, survey, "Solar System", "We search for companions.")["science_use_cases"] == [GENERIC]
    both = keyword_summary(vocab, survey, "Solar System", "We search for companions and measure their orbital motion.")
    assert both["science_use_cases"] == ["measure orbits and dynamical masses"]
    with pytest.raises(SchemaViolation, match="no_vocabulary_match"):
        keyword_summary(vocab, "Untitled", "", "Lorem ipsum dolor sit amet.")


def test_a_phrase_standing_for_two_classes_is_refused(tmp_path):
    bad = tmp_path / "vocab.yaml"
    bad.write_text("objects_and_phenomena: {comets: [coma], galaxy clusters: [Coma]}\n"
                   "science_use_cases: {measure things: [measure]}\n")
    with pytest.raises(ValueError, match="'Coma' is listed under both 'comets' and 'galaxy clusters'"):
        load_vocabulary(bad)
    bad.write_text("objects_and_phenomena: {comets: [comet]}\nnamed_objects: {quasars: [3C 273]}\n"
                   "science_use_cases: {measure things: [measure]}\n")
    with pytest.raises(ValueError, match="named_objects: 'quasars'"):
        load_vocabulary(bad)
