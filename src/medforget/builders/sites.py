"""The sites above a source's patients.

Synthetic sites, for sources whose patients come from no real institution or from one only
(IU X-ray, Open-i, MIMIC-CXR): patients dealt by the seed into ``n_institutions`` sites, sites
into ``n_networks`` health networks, each with a seeded Faker identity. An institution target
needs siblings and cousins, which one real hospital cannot give; the card says they are made.
Real sites, for sources that name them (DICOM's InstitutionName): institutions at the top.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from medforget.builders.identities import IdentityFactory
from medforget.config import BuildConfig
from medforget.hierarchy import Attribute, Node, make_node_id

P = TypeVar("P")


def deal(rng: random.Random, items: Sequence[P], n: int) -> list[list[P]]:
    """``items`` shuffled by ``rng`` and dealt round-robin into ``n`` non-empty hands."""
    order = list(range(len(items)))
    rng.shuffle(order)
    hands: list[list[P]] = [[] for _ in range(n)]
    for position, index in enumerate(order):
        hands[position % n].append(items[index])
    return hands


def synthetic_sites(
    source: str,
    config: BuildConfig,
    factory: IdentityFactory,
    patients: Sequence[P],
    key: Callable[[P], str],
    patient_nodes: Callable[[P, str], list[Node]],
) -> list[Node]:
    """Network and institution nodes around ``patients``, with ``patient_nodes(patient, parent
    id)`` below each; a site's and a network's identity derive from the smallest ``key`` of
    their patients, so they stay put whatever order the source listed them in."""
    rng = random.Random(config.seed + 1)
    networks = deal(rng, deal(rng, patients, config.n_institutions), config.n_networks)
    nodes: list[Node] = []
    for sites in networks:
        network = _network(source, factory, "network:" + min(key(p) for site in sites for p in site))
        nodes.append(network)
        for site in sorted(sites, key=lambda s: min(key(p) for p in s)):
            institution = _institution(source, factory, "site:" + min(key(p) for p in site), network.id)
            nodes.append(institution)
            for patient in sorted(site, key=key):
                nodes.extend(patient_nodes(patient, institution.id))
    return nodes


def real_sites(
    source: str,
    patients: Sequence[P],
    site: Callable[[P], str | None],
    institution: Callable[[str, Sequence[P]], tuple[Attribute, ...]],
    patient_nodes: Callable[[P, str], list[Node]],
) -> list[Node]:
    """Institution nodes of the sites ``site(patient)`` names, in the order they first appear,
    each with its patients (in the source's order) below it."""
    by_site: dict[str, list[P]] = {}
    for patient in patients:
        by_site.setdefault(str(site(patient)), []).append(patient)
    nodes: list[Node] = []
    for key, members in by_site.items():
        node = Node(
            id=make_node_id("institution", source, key),
            level="institution",
            parent_id=None,
            source_key=key,
            attributes=institution(key, members),
        )
        nodes.append(node)
        for patient in members:
            nodes.extend(patient_nodes(patient, node.id))
    return nodes


def _network(source: str, factory: IdentityFactory, key: str) -> Node:
    ident = factory.network(key)
    return Node(
        id=make_node_id("network", source, key),
        level="network",
        parent_id=None,
        source_key=key,
        attributes=(Attribute("name", ident.name, "name"), Attribute("city", ident.city, "headquarters")),
    )


def _institution(source: str, factory: IdentityFactory, key: str, parent: str) -> Node:
    ident = factory.institution(key)
    return Node(
        id=make_node_id("institution", source, key),
        level="institution",
        parent_id=parent,
        source_key=key,
        attributes=(
            Attribute("name", ident.name, "name"),
            Attribute("city", ident.city, "city"),
            Attribute("type", ident.type, "hospital type"),
            Attribute("pacs_vendor", ident.pacs_vendor, "PACS vendor"),
        ),
    )
