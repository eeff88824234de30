"""The flows wired on fakes (tests/unit/fakes.py) as composition.py wires them on the adapters, and the
people of the tests: salespeople with their areas, leads with their contact."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sales_assistant.config import OPT_IN_PHRASES, OPT_OUT_PHRASES
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.salesperson import Salesperson, SalespersonProfile
from sales_assistant.services.actions import AnswerActions, LeadChanges
from sales_assistant.services.answers import AnswerWriter
from sales_assistant.services.budget import Budget
from sales_assistant.services.consent import ConsentService, Phrases
from sales_assistant.services.conversation import ReactiveConfig, ReactiveConversations
from sales_assistant.services.costs import Costs
from sales_assistant.services.delivery import Delivery, DeliveryConfig
from sales_assistant.services.first_messages import FirstMessageComposer, FirstMessageConfig
from sales_assistant.services.follow_up_messages import FollowUpMessageConfig, FollowUpMessages
from sales_assistant.services.follow_ups import FollowUpLadders, LadderConfig
from sales_assistant.services.funnel import CountedMeetings, Funnel
from sales_assistant.services.handover import Handovers, HandoverWords
from sales_assistant.services.leases import ConversationDoor
from sales_assistant.services.meetings_held import MeetingsHeld
from sales_assistant.services.no_show import NoShows
from sales_assistant.services.proactive import ProactiveConfig, ProactiveOutreach
from sales_assistant.services.qualification import Qualification
from sales_assistant.services.reply_batches import BatchPacing, ReplyBatches
from sales_assistant.services.routing import RoutingConfig, SalespersonRouter
from sales_assistant.services.scheduling import SchedulingService
from sales_assistant.services.takeover import TakeoverService
from sales_assistant.services.trigger_outcomes import TriggerOutcomes
from sales_assistant.texts import Texts
from tests.unit.fakes import (
    Clock,
    FakeKommo,
    FakeN8n,
    FakeRoundRobin,
    FakeSwitches,
    InMemoryAgenda,
    InMemoryBotStates,
    InMemoryConsentRecords,
    InMemoryConversations,
    InMemoryDeliveryLog,
    InMemoryEchoMemory,
    InMemoryFollowUps,
    InMemoryFunnel,
    InMemorySalespeople,
    InMemoryTriggers,
    OnceStore,
    RecordingQueue,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
SALESBOT, TEMPLATE_SALESBOT = 101, 102
REPLY_FIELD, TEMPLATE_NAME_FIELD, AREA_FIELD = 900001, 900002, 512345
ASSISTANT_STATUS = 61234568  # the status n8n's move_status may set (ASSISTANT_STATUS_IDS)
# QUALIFICATION_FIELDS: the lead fields n8n's set_fields may fill (fakes.kommo.lead_field_list defines them)
BUDGET_FIELD, INTEREST_FIELD, VISIT_FIELD = 512350, 512351, 512352
QUALIFICATION_FIELDS = {"orcamento": BUDGET_FIELD, "interesse": INTEREST_FIELD, "visita": VISIT_FIELD}
QUIET_SECONDS, MIN_GAP_SECONDS, LEASE_SECONDS = 4, 5, 60
WEEKDAYS_9_TO_18 = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
HOUR, DAY = 3600, 86400
FOLLOW_UP_TEMPLATE = "retomada_contato"


class Fakes:
    """Everything outside the flows, in memory, on one clock."""

    def __init__(self, now: datetime) -> None:
        self.clock = Clock(now.timestamp())
        self.texts = Texts()
        self.kommo = FakeKommo()
        self.n8n = FakeN8n()
        self.salespeople = InMemorySalespeople()
        self.bot_states = InMemoryBotStates()
        self.consent_records = InMemoryConsentRecords()
        self.conversations = InMemoryConversations(self.clock)
        self.triggers = InMemoryTriggers()
        self.follow_ups = InMemoryFollowUps()
        self.ladder_config = LadderConfig({"default": (2 * HOUR, DAY, 3 * DAY)})  # the settings' defaults
        self.agenda = InMemoryAgenda()
        self.queue = RecordingQueue()
        self.delivery_log = InMemoryDeliveryLog()
        self.echoes = InMemoryEchoMemory()
        self.once = OnceStore()
        self.round_robin = FakeRoundRobin()
        self.switches = FakeSwitches()
        self.funnel_counts = InMemoryFunnel()
        self.funnel = Funnel(
            self.funnel_counts,
            "America/Sao_Paulo",
            conversations=self.conversations,
            follow_ups=self.follow_ups,
            clock=self.clock,
        )
        self.costs: Costs | None = None  # counted only where a test sets them (tests/unit/test_costs.py)
        self.budget: Budget | None = None

    def add_salesperson(self, vendor_id: int, name: str, *areas: str) -> Salesperson:
        """An active salesperson at work on weekdays 9-18 in São Paulo (no holidays: none is near the tests)."""
        profile = SalespersonProfile(areas=list(areas), working_hours=WEEKDAYS_9_TO_18, holidays_country="")
        self.salespeople.salespeople[vendor_id] = Salesperson(vendor_id=vendor_id, name=name, profile=profile)
        return self.salespeople.salespeople[vendor_id]

    def add_lead(
        self,
        lead_id: int,
        contact_id: int,
        name: str,
        *,
        area: str,
        responsible: int,
        phone: str = "+55 11 98765-4321",
        status_id: int | None = None,
    ) -> None:
        """A lead of an area with its one contact (a phone, or none when `phone` is '')."""
        self.kommo.leads[lead_id] = KommoLead.model_validate(
            {
                "id": lead_id,
                "name": f"Lead de {name}",
                "status_id": status_id,
                "responsible_user_id": responsible,
                "custom_fields_values": [{"field_id": AREA_FIELD, "field_name": "Área", "values": [{"value": area}]}],
                "_embedded": {"contacts": [{"id": contact_id, "is_main": True}]},
            }
        )
        phones = [{"field_id": 1, "field_code": "PHONE", "values": [{"value": phone}]}] if phone else []
        self.kommo.contacts[contact_id] = KommoContact.model_validate(
            {"id": contact_id, "name": name, "custom_fields_values": phones}
        )

    def client_message(self, message_id: str, text: str, *, lead_id: int, contact_id: int) -> ChatMessage:
        """A client's WhatsApp message in the lead's chat, written now."""
        return ChatMessage(
            id=message_id,
            chat_id=f"chat-{contact_id}",
            contact_id=contact_id,
            text=text,
            created_at=int(self.clock()),
            entity_type="lead",
            entity_id=lead_id,
            type="incoming",
        )


def takeover(fakes: Fakes, no_shows: NoShows | None = None) -> TakeoverService:
    """The commands; `/faltou` only with `no_shows`."""
    return TakeoverService(
        fakes.bot_states,
        fakes.kommo,
        fakes.kommo,
        fakes.texts,
        auto_resume_hours=12,
        pause_on_manual_reply=True,
        follow_ups=ladders(fakes),
        no_shows=(lambda: no_shows) if no_shows is not None else None,
        clock=fakes.clock,
    )


def consent(fakes: Fakes) -> ConsentService:
    """The consent service (composition.consent_service) with the pt-BR default phrases."""
    return ConsentService(
        fakes.consent_records,
        fakes.kommo,
        fakes.texts,
        opt_out=Phrases(OPT_OUT_PHRASES.split(",")),
        opt_in=Phrases(OPT_IN_PHRASES.split(",")),
        clock=fakes.clock,
    )


def handovers(fakes: Fakes) -> Handovers:
    """Clients handed over to a person (composition.handovers): the manager's task after 2 working hours."""
    return Handovers(
        takeover=takeover(fakes),
        kommo=fakes.kommo,
        salespeople=fakes.salespeople,
        notes=fakes.kommo,
        texts=fakes.texts,
        answer_hours=2,
        funnel=fakes.funnel,
        clock=fakes.clock,
    )


def writer(fakes: Fakes) -> AnswerWriter:
    """n8n asked for an answer, the handover's words added by the service (composition.answer_writer)."""
    return AnswerWriter(HandoverWords(fakes.n8n, handovers(fakes)), fakes.costs)


def answer_actions(fakes: Fakes) -> AnswerActions:
    return AnswerActions(
        handovers=handovers(fakes),
        lead_changes=lead_changes(fakes),
        qualification=Qualification(fakes.kommo, QUALIFICATION_FIELDS, fakes.texts, fakes.clock),
        notes=fakes.kommo,
        texts=fakes.texts,
        status_ids=frozenset({ASSISTANT_STATUS}),
        funnel=fakes.funnel,
    )


def lead_changes(fakes: Fakes) -> LeadChanges:
    return LeadChanges(fakes.kommo, fakes.echoes, fakes.conversations, fakes.clock)


def delivery(fakes: Fakes, template_fields: dict[str, int] | None = None) -> Delivery:
    """The shared delivery path; templates fill `template_fields` (default: only `nome`, TEMPLATE_NAME_FIELD)."""
    return Delivery(
        kommo=fakes.kommo,
        echoes=fakes.echoes,
        log=fakes.delivery_log,
        notes=fakes.kommo,
        texts=fakes.texts,
        config=DeliveryConfig(
            salesbot_id=SALESBOT,
            reply_field_id=REPLY_FIELD,
            template_salesbot_id=TEMPLATE_SALESBOT,
            template_fields=template_fields or {"nome": TEMPLATE_NAME_FIELD},
        ),
        switches=fakes.switches,
        costs=fakes.costs,
        clock=fakes.clock,
    )


def reactive(fakes: Fakes) -> ReactiveConversations:
    """The reactive flow (composition.reactive_conversations)."""
    return ReactiveConversations(
        conversations=fakes.conversations,
        batches=ReplyBatches(
            fakes.conversations,
            fakes.queue,
            BatchPacing(QUIET_SECONDS, MIN_GAP_SECONDS),
            lambda: LEASE_SECONDS,
            fakes.clock,
        ),
        takeover=takeover(fakes),
        kommo=fakes.kommo,
        notes=fakes.kommo,
        salespeople=fakes.salespeople,
        writer=writer(fakes),
        flushes=fakes.queue,
        delivery=delivery(fakes),
        actions=answer_actions(fakes),
        follow_ups=ladders(fakes),
        once=fakes.once,
        consent=consent(fakes),
        funnel=fakes.funnel,
        texts=fakes.texts,
        config=ReactiveConfig(
            quiet_seconds=QUIET_SECONDS,
            history_turns=20,
            reply_field_id=REPLY_FIELD,
            n8n_path="/webhook/kommo-reply",
            kommo_cache_seconds=600,
        ),
        clock=fakes.clock,
        budget=fakes.budget,
    )


def run_flushes(fakes: Fakes, flow: ReactiveConversations) -> list[str]:
    """Run the flush jobs queued so far, in order (as the conversations queue delivers them); their outcomes."""
    jobs, fakes.queue.flushes = fakes.queue.flushes, []
    return [flow.flush(job.conversation_id, job.seq, job.job_id) for job in jobs]


def proactive(fakes: Fakes, *, fallback_template: str = "boas_vindas") -> ProactiveOutreach:
    """The proactive flow (composition.proactive_outreach): the fallback template outside the window, routing
    by the area field, no reassignment."""
    actions = answer_actions(fakes)
    return ProactiveOutreach(
        kommo=fakes.kommo,
        triggers=fakes.triggers,
        router=SalespersonRouter(
            salespeople=fakes.salespeople,
            users=fakes.kommo,
            round_robin=fakes.round_robin,
            triggers=fakes.triggers,
            lead_changes=lead_changes(fakes),
            once=fakes.once,
            config=RoutingConfig(area_field_id=AREA_FIELD),
            clock=fakes.clock,
        ),
        composer=FirstMessageComposer(
            writer(fakes),
            fakes.once,
            fakes.texts,
            FirstMessageConfig(
                n8n_path="/webhook/kommo-proactive", reply_field_id=REPLY_FIELD, fallback_template=fallback_template
            ),
            fakes.clock,
        ),
        conversations=fakes.conversations,
        door=ConversationDoor(fakes.conversations, fakes.queue, lambda: LEASE_SECONDS, MIN_GAP_SECONDS, fakes.clock),
        takeover=takeover(fakes),
        consent=consent(fakes),
        delivery=delivery(fakes),
        actions=actions,
        notes=fakes.kommo,
        outcomes=TriggerOutcomes(
            triggers=fakes.triggers,
            conversations=fakes.conversations,
            notes=fakes.kommo,
            actions=actions,
            follow_ups=ladders(fakes),
            funnel=fakes.funnel,
            texts=fakes.texts,
            clock=fakes.clock,
        ),
        queue=fakes.queue,
        texts=fakes.texts,
        config=ProactiveConfig(),
        clock=fakes.clock,
        budget=fakes.budget,
    )


def ladders(fakes: Fakes) -> FollowUpLadders:
    """The leads' follow-up ladders (composition.follow_up_ladders), as `fakes.ladder_config` sets them."""
    return FollowUpLadders(fakes.follow_ups, fakes.ladder_config, fakes.clock)


def follow_ups(fakes: Fakes) -> FollowUpMessages:
    """The follow-ups themselves (composition.follow_up_messages): n8n inside the window, FOLLOW_UP_TEMPLATE
    outside it."""
    return FollowUpMessages(
        ladders=ladders(fakes),
        kommo=fakes.kommo,
        salespeople=fakes.salespeople,
        conversations=fakes.conversations,
        door=ConversationDoor(fakes.conversations, fakes.queue, lambda: LEASE_SECONDS, MIN_GAP_SECONDS, fakes.clock),
        delivery=delivery(fakes),
        writer=writer(fakes),
        actions=answer_actions(fakes),
        takeover=takeover(fakes),
        consent=consent(fakes),
        notes=fakes.kommo,
        queue=fakes.queue,
        once=fakes.once,
        funnel=fakes.funnel,
        texts=fakes.texts,
        config=FollowUpMessageConfig(
            n8n_path="/webhook/kommo-follow-up", reply_field_id=REPLY_FIELD, template=FOLLOW_UP_TEMPLATE
        ),
        clock=fakes.clock,
        budget=fakes.budget,
    )


def meetings_held(fakes: Fakes) -> MeetingsHeld:
    """Whether a meeting was held, once its no-show grace period is over (composition.meetings_held)."""
    return MeetingsHeld(agenda=fakes.agenda, once=fakes.once, funnel=fakes.funnel)


def scheduling(fakes: Fakes) -> SchedulingService:
    """The scheduling service (composition.scheduling_service): holds of 5 minutes, one appointment to come
    per lead."""
    return SchedulingService(
        agenda=fakes.agenda,
        salespeople=fakes.salespeople,
        kommo=fakes.kommo,
        events=CountedMeetings(fakes.queue, fakes.funnel),
        hold_minutes=5,
        clock=fakes.clock,
    )
