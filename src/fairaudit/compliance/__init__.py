"""The reviewer's and regulator's formats: NYC LL144 and EEOC four-fifths tables, the model card."""

from fairaudit.compliance.model_card import model_card, model_card_markdown
from fairaudit.compliance.tables import STANDARDS, ComplianceError, check_options, compliance_table

__all__ = ["STANDARDS", "ComplianceError", "check_options", "compliance_table", "model_card", "model_card_markdown"]
