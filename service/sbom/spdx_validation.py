"""SPDX documents checked as spdx-tools' ``validate_full_spdx_document`` checks them, in
time linear in their size.

That function checks each element with spdx-tools' element validators, and the references
between elements by walking the document's lists again for each element: every package
searches all relationships (does it hold files though it analysed none?), and each end of
each relationship is looked up in a list of all ids built anew. It grows with the square
of the packages: 0.38 s for Syft's 450 packages of a Debian image, most of it those walks;
4 s for 1,800. Here spdx-tools validates the document holding only the relationships
that involve the document itself (its DESCRIBES needs them), and the others (one per
package in Tollgate's documents) are checked against a set of ids built once, with
spdx-tools' id validator and its messages.
"""

from __future__ import annotations

import copy

from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.model.relationship import Relationship
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.model.spdx_none import SpdxNone
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.validation.spdx_id_validators import (
    get_list_of_all_spdx_ids,
    validate_spdx_id,
)
from spdx_tools.spdx.validation.validation_message import (
    SpdxElementType,
    ValidationContext,
    ValidationMessage,
)

# What the shortcut covers: the version and elements Tollgate writes. Files would need the
# check that a package which analysed no files contains none; SPDX 2.2 refuses some
# relationship types. A document with either is validated the slow way.
_VERSION = "SPDX-2.3"


def validation_messages(document: Document) -> list[ValidationMessage]:
    """What ``validate_full_spdx_document(document)`` finds, the same messages."""
    if document.files or document.snippets or document.creation_info.spdx_version != _VERSION:
        return list(validate_full_spdx_document(document))
    own = document.creation_info.spdx_id
    about_document: list[Relationship] = []
    between_elements: list[Relationship] = []
    for relationship in document.relationships:
        ends = (relationship.spdx_element_id, relationship.related_spdx_element_id)
        (about_document if own in ends else between_elements).append(relationship)
    skeleton = copy.copy(document)
    skeleton.relationships = about_document
    return [
        *validate_full_spdx_document(skeleton),
        *_reference_messages(between_elements, document),
    ]


def _reference_messages(
    relationships: list[Relationship], document: Document
) -> list[ValidationMessage]:
    """What spdx-tools' ``validate_relationship`` says of each: an end that is not a
    well-formed id, or names no element of the document."""
    known = set(get_list_of_all_spdx_ids(document))
    messages = []
    for relationship in relationships:
        context = ValidationContext(
            element_type=SpdxElementType.RELATIONSHIP, full_element=relationship
        )
        ends = [relationship.spdx_element_id]
        if relationship.related_spdx_element_id not in (SpdxNone(), SpdxNoAssertion()):
            ends.append(str(relationship.related_spdx_element_id))
        for end in ends:
            found = validate_spdx_id(end, document)  # an external one: its document declared
            if ":" not in end and end not in known:
                found.append(f'did not find the referenced spdx_id "{end}" in the SPDX document')
            messages += [ValidationMessage(message, context) for message in found]
    return messages
