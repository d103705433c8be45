"""Every SQLAlchemy model, imported here so alembic sees one complete metadata."""

from app.models.agent import Agent
from app.models.api_key import ApiKey
from app.models.attachment import Attachment
from app.models.base import Base
from app.models.channel import Channel
from app.models.contact import Contact
from app.models.conversation import Conversation
from app.models.conversation_archive import ConversationArchive
from app.models.credit import CreditLedgerEntry, CreditReservation
from app.models.event_hook import EventDelivery, WebhookEndpoint
from app.models.label import ConversationLabel, Label
from app.models.lead import Lead
from app.models.message import Message
from app.models.message_template import MessageTemplate
from app.models.note import ConversationNote
from app.models.operator import ConversationRead, Operator
from app.models.ordering_lease import OrderingLease
from app.models.tenant import Tenant

__all__ = [
    "Agent",
    "ApiKey",
    "Attachment",
    "Base",
    "Channel",
    "Contact",
    "Conversation",
    "ConversationArchive",
    "ConversationLabel",
    "ConversationNote",
    "ConversationRead",
    "CreditLedgerEntry",
    "CreditReservation",
    "EventDelivery",
    "Label",
    "Lead",
    "Message",
    "MessageTemplate",
    "Operator",
    "OrderingLease",
    "Tenant",
    "WebhookEndpoint",
]
