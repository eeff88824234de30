"""The services with their real adapters, built on first use and cached for the life of the process.

Handlers and benchmarks get their services here; tests build services with fakes instead.
"""

from __future__ import annotations

from functools import cache, partial
from typing import TYPE_CHECKING

from sales_assistant.config import Settings, SettingsError

if TYPE_CHECKING:  # every service and adapter is imported by the factory that builds it: a cold start loads its own
    from sales_assistant.adapters.conversations import DynamoConversationRepository
    from sales_assistant.adapters.echo_memory import DynamoEchoMemory
    from sales_assistant.adapters.lead_notes import OnceLeadNotes
    from sales_assistant.adapters.parked import DynamoParkedEntities
    from sales_assistant.adapters.queues import QueuePublisher, SqsFlushScheduler
    from sales_assistant.adapters.received import DynamoReceivedMessages
    from sales_assistant.adapters.salespeople import DynamoSalespeople, DynamoSentSalespeople
    from sales_assistant.adapters.sync_lock import DynamoSyncLock
    from sales_assistant.services.actions import AnswerActions, LeadChanges
    from sales_assistant.services.answers import AnswerWriter
    from sales_assistant.services.appointment_followups import AppointmentFollowUps
    from sales_assistant.services.budget import Budget
    from sales_assistant.services.consent import ConsentService
    from sales_assistant.services.conversation import ReactiveConversations
    from sales_assistant.services.costs import Costs
    from sales_assistant.services.delivery import Delivery
    from sales_assistant.services.erasure import ContactErasure
    from sales_assistant.services.follow_up_messages import FollowUpMessages
    from sales_assistant.services.follow_ups import FollowUpLadders
    from sales_assistant.services.funnel import Funnel
    from sales_assistant.services.handover import Handovers
    from sales_assistant.services.health import HealthCanary
    from sales_assistant.services.leases import ConversationDoor
    from sales_assistant.services.meetings_held import MeetingsHeld
    from sales_assistant.services.messages import MessagesToClients
    from sales_assistant.services.no_show import NoShows
    from sales_assistant.services.ports.storage import FunnelCounts, Once, Triggers
    from sales_assistant.services.proactive import ProactiveOutreach
    from sales_assistant.services.routing import SalespersonRouter
    from sales_assistant.services.scheduling import SchedulingService
    from sales_assistant.services.takeover import TakeoverService

LEASE_MARGIN_SECONDS = 30


@cache
def takeover_service(settings: Settings, *, notes_later: bool = False) -> TakeoverService:
    """Human takeover: bot state in DynamoDB, notes through Kommo. `notes_later` (the commands queue's consumer):
    a note Kommo cannot take is queued for later, so the lead's next commands and manual replies never wait
    behind it in their FIFO group."""
    from sales_assistant.adapters.bot_state import DynamoBotStateRepository
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.later_notes import NotesOrLater
    from sales_assistant.services.takeover import TakeoverService

    notes = lead_notes(settings)
    return TakeoverService(
        DynamoBotStateRepository(settings.bot_state_table),
        kommo_client(settings),
        NotesOrLater(notes, queue_publisher(settings)) if notes_later else notes,
        settings.texts,
        auto_resume_hours=settings.auto_resume_hours,
        pause_on_manual_reply=settings.auto_pause_on_human_reply,
        follow_ups=follow_up_ladders(settings),
        no_shows=partial(no_shows, settings) if settings.appointments_table else None,
    )


@cache
def no_shows(settings: Settings) -> NoShows:
    """`/faltou`: a missed meeting marked on the agenda, the client offered new slots of the same salesperson."""
    from sales_assistant.adapters.agenda import DynamoAgenda
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.no_show import NoShows

    return NoShows(
        agenda=DynamoAgenda(settings.appointments_table),
        scheduling=scheduling_service(settings),
        salespeople=salespeople(settings),
        kommo=kommo_client(settings),
        consent=consent_service(settings),
        takeover=takeover_service(settings),
        conversations=conversation_repository(settings),
        door=conversation_door(settings),
        delivery=delivery(settings),
        notes=lead_notes(settings),
        once=once_per_key(settings),
        funnel=funnel(settings),
        texts=settings.texts,
        template=settings.no_show_template,
    )


@cache
def reactive_conversations(settings: Settings) -> ReactiveConversations:
    """The reactive flow: conversations in DynamoDB, Kommo, n8n, flush jobs on SQS."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.conversation import ReactiveConfig, ReactiveConversations
    from sales_assistant.services.reply_batches import BatchPacing, ReplyBatches

    batches = ReplyBatches(
        conversation_repository(settings),
        flush_scheduler(settings),
        BatchPacing(settings.conversation_quiet_seconds, settings.salesbot_min_gap_seconds),
        lambda: lease_seconds(settings),
    )
    return ReactiveConversations(
        conversations=conversation_repository(settings),
        batches=batches,
        takeover=takeover_service(settings),
        kommo=kommo_client(settings),
        notes=lead_notes(settings),
        salespeople=salespeople(settings),
        writer=answer_writer(settings),
        flushes=flush_scheduler(settings),
        delivery=delivery(settings),
        actions=answer_actions(settings),
        follow_ups=follow_up_ladders(settings),
        once=once_per_key(settings),
        consent=consent_service(settings),
        funnel=funnel(settings),
        texts=settings.texts,
        config=ReactiveConfig(
            quiet_seconds=settings.conversation_quiet_seconds,
            history_turns=settings.history_turns,
            reply_field_id=settings.kommo_reply_field_id,
            n8n_path=settings.n8n_reply_path,
            kommo_cache_seconds=settings.kommo_cache_seconds,
        ),
        budget=budget(settings),
    )


def answer_writer(settings: Settings) -> AnswerWriter:
    """n8n, asked for a reply or a first message under a conversation's lease."""
    from sales_assistant.adapters.n8n import n8n_client
    from sales_assistant.services.answers import AnswerWriter
    from sales_assistant.services.handover import HandoverWords

    return AnswerWriter(HandoverWords(n8n_client(settings), handovers(settings)), costs(settings))


@cache
def handovers(settings: Settings) -> Handovers:
    """Clients handed over to a person: told when one answers, the salesperson tasked, the manager when late."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.handover import Handovers

    return Handovers(
        takeover=takeover_service(settings),
        kommo=kommo_client(settings),
        salespeople=salespeople(settings),
        notes=lead_notes(settings),
        texts=settings.texts,
        answer_hours=settings.handover_answer_hours,
        funnel=funnel(settings),
    )


def flush_scheduler(settings: Settings) -> SqsFlushScheduler:
    """Flush jobs for the reactive flow, on the conversations queue."""
    from sales_assistant.adapters.queues import SqsFlushScheduler

    return SqsFlushScheduler(queue_publisher(settings))


@cache
def answer_actions(settings: Settings) -> AnswerActions:
    """n8n's actions (handover, schedule, the lead's status, fields and tags, anything else as a task), for every
    path that asks n8n; the qualification fields' definitions are kept with it, for the life of the process."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.actions import AnswerActions
    from sales_assistant.services.qualification import Qualification

    return AnswerActions(
        handovers=handovers(settings),
        lead_changes=lead_changes(settings),
        qualification=Qualification(kommo_client(settings), settings.qualification_fields, settings.texts),
        notes=lead_notes(settings),
        texts=settings.texts,
        scheduling=scheduling_service(settings) if settings.appointments_table else None,
        status_ids=settings.assistant_status_ids,
        funnel=funnel(settings),
    )


@cache
def lead_changes(settings: Settings) -> LeadChanges:
    """The service's own changes to a lead: echo remembered, the conversation's kept lead forgotten."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.actions import LeadChanges

    return LeadChanges(kommo_client(settings), echo_memory(settings), conversation_repository(settings))


def once_per_key(settings: Settings) -> Once:
    """run_once on the idempotency table; a call while the same key runs elsewhere raises (the queue retries)."""
    from sales_assistant.adapters.once import run_once

    return partial(
        run_once,
        table_name=settings.idempotency_table,
        ttl_seconds=settings.dedup_ttl_seconds,
        raise_in_progress=True,
    )


def lease_seconds(settings: Settings) -> float:
    """How long a conversation lease lasts from now: past the end of the running invocation (so no
    other job takes the conversation while this one lives), or two n8n timeouts outside Lambda."""
    from sales_assistant.invocation import remaining_seconds

    remaining = remaining_seconds()
    if remaining is None:
        remaining = 2 * settings.n8n_timeout_seconds
    return remaining + LEASE_MARGIN_SECONDS


@cache
def proactive_outreach(settings: Settings) -> ProactiveOutreach:
    """The proactive flow: triggers in DynamoDB, salespeople routed, first messages through delivery."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.triggers import DynamoTriggerRepository
    from sales_assistant.services.first_messages import FirstMessageComposer, FirstMessageConfig
    from sales_assistant.services.proactive import ProactiveConfig, ProactiveOutreach
    from sales_assistant.services.trigger_outcomes import TriggerOutcomes

    if not settings.triggers_table:
        raise SettingsError("TRIGGERS_TABLE: required by the proactive flow")
    triggers = DynamoTriggerRepository(settings.triggers_table)
    composer = FirstMessageComposer(
        answer_writer(settings),
        once_per_key(settings),
        settings.texts,
        FirstMessageConfig(
            n8n_path=settings.n8n_proactive_path,
            reply_field_id=settings.kommo_reply_field_id,
            fallback_template=settings.proactive_fallback_template,
        ),
    )
    outcomes = TriggerOutcomes(
        triggers=triggers,
        conversations=conversation_repository(settings),
        notes=lead_notes(settings),
        actions=answer_actions(settings),
        follow_ups=follow_up_ladders(settings),
        funnel=funnel(settings),
        texts=settings.texts,
    )
    return ProactiveOutreach(
        kommo=kommo_client(settings),
        triggers=triggers,
        router=salesperson_router(settings, triggers),
        composer=composer,
        conversations=conversation_repository(settings),
        door=conversation_door(settings),
        takeover=takeover_service(settings),
        consent=consent_service(settings),
        delivery=delivery(settings),
        actions=answer_actions(settings),
        notes=lead_notes(settings),
        outcomes=outcomes,
        queue=queue_publisher(settings),
        texts=settings.texts,
        config=ProactiveConfig(
            rules=settings.trigger_rules, cooldown_seconds=int(settings.proactive_cooldown_hours * 3600)
        ),
        budget=budget(settings),
    )


@cache
def consent_service(settings: Settings) -> ConsentService:
    """Opt-outs and opt-ins heard in client messages, kept in the Kommo table; whether the assistant may write first."""
    from sales_assistant.adapters.consent import DynamoConsentRecords
    from sales_assistant.services.consent import ConsentService, Phrases

    return ConsentService(
        DynamoConsentRecords(settings.kommo_table),
        lead_notes(settings),
        settings.texts,
        opt_out=Phrases(settings.opt_out_phrases),
        opt_in=Phrases(settings.opt_in_phrases),
    )


def contact_erasure(settings: Settings) -> ContactErasure:
    """`DELETE /contacts/{id}/data`: a contact's data erased from the tables, n8n's chat memory of them too."""
    from sales_assistant.adapters.consent import DynamoConsentRecords, DynamoContactData
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.n8n import n8n_client
    from sales_assistant.services.erasure import ContactErasure

    if not settings.triggers_table:
        raise SettingsError("TRIGGERS_TABLE: required by the erasure (the triggers hold what a lead sent)")
    return ContactErasure(
        kommo=kommo_client(settings),
        data=DynamoContactData(
            conversations_table=settings.conversations_table,
            triggers_table=settings.triggers_table,
            bot_state_table=settings.bot_state_table,
            idempotency_table=settings.idempotency_table,
            follow_ups_table=settings.follow_ups_table,
        ),
        consent=DynamoConsentRecords(settings.kommo_table),
        n8n=n8n_client(settings),
        n8n_path=settings.n8n_erase_path,
        texts=settings.texts,
    )


def salesperson_router(settings: Settings, triggers: Triggers) -> SalespersonRouter:
    """Who writes a lead's first message: the responsible salesperson or the next of the area in turn."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.round_robin import DynamoRoundRobin
    from sales_assistant.services.routing import RoutingConfig, SalespersonRouter

    return SalespersonRouter(
        salespeople=salespeople(settings),
        users=kommo_client(settings),
        round_robin=DynamoRoundRobin(settings.kommo_table),
        triggers=triggers,
        lead_changes=lead_changes(settings),
        once=once_per_key(settings),
        config=RoutingConfig(
            area_field_id=settings.lead_area_field_id,
            reassign=settings.proactive_reassign,
            test_lead_tag=settings.test_lead_tag,
        ),
    )


def conversation_door(settings: Settings) -> ConversationDoor:
    """The lease taken for a message that answers no client message (confirmations, n8n's messages)."""
    from sales_assistant.services.leases import ConversationDoor

    return ConversationDoor(
        conversation_repository(settings),
        flush_scheduler(settings),
        lambda: lease_seconds(settings),
        settings.salesbot_min_gap_seconds,
    )


@cache
def messages_to_clients(settings: Settings) -> MessagesToClients:
    """`POST /messages`: n8n's texts to a lead's chat through the shared delivery path."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.messages import MessagesToClients

    return MessagesToClients(
        kommo=kommo_client(settings),
        consent=consent_service(settings),
        takeover=takeover_service(settings),
        conversations=conversation_repository(settings),
        door=conversation_door(settings),
        delivery=delivery(settings),
        notes=lead_notes(settings),
        once=once_or_in_progress(settings),
        texts=settings.texts,
    )


@cache
def scheduling_service(settings: Settings) -> SchedulingService:
    """Scheduling: the agenda in DynamoDB, leads from Kommo, changes published on the scheduling queue."""
    from sales_assistant.adapters.agenda import DynamoAgenda
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.funnel import CountedMeetings
    from sales_assistant.services.scheduling import SchedulingService

    if not (settings.appointments_table and settings.scheduling_queue_url):
        raise SettingsError("APPOINTMENTS_TABLE, SCHEDULING_QUEUE_URL: required by the scheduling flow")
    return SchedulingService(
        agenda=DynamoAgenda(settings.appointments_table),
        salespeople=salespeople(settings),
        kommo=kommo_client(settings),
        events=CountedMeetings(queue_publisher(settings), funnel(settings)),
        hold_minutes=settings.hold_minutes,
        lead_appointments_max=settings.lead_appointments_max,
    )


@cache
def appointment_followups(settings: Settings) -> AppointmentFollowUps:
    """What follows an appointment's change: n8n, Kommo task and note, reminders, the client's confirmation."""
    from sales_assistant.adapters.agenda import DynamoAgenda
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.n8n import n8n_client
    from sales_assistant.adapters.reminders import SchedulerReminders
    from sales_assistant.services.appointment_followups import AppointmentFollowUps, FollowUpConfig
    from sales_assistant.services.meeting_tasks import MeetingTasks

    if not (settings.reminder_schedule_group and settings.scheduling_queue_arn and settings.reminder_role_arn):
        raise SettingsError(
            "REMINDER_SCHEDULE_GROUP, SCHEDULING_QUEUE_ARN, REMINDER_ROLE_ARN: required by appointment reminders"
        )
    agenda = DynamoAgenda(settings.appointments_table)
    return AppointmentFollowUps(
        agenda=agenda,
        salespeople=salespeople(settings),
        kommo=kommo_client(settings),
        meeting_tasks=MeetingTasks(kommo_client(settings), agenda, once_per_key(settings), settings.texts),
        notes=lead_notes(settings),
        n8n=n8n_client(settings),
        reminders=SchedulerReminders(
            settings.reminder_schedule_group,
            settings.scheduling_queue_arn,
            settings.reminder_role_arn,
            settings.reminder_offsets,
            settings.no_show_grace_hours * 3600,
        ),
        delivery=delivery(settings),
        door=conversation_door(settings),
        conversations=conversation_repository(settings),
        takeover=takeover_service(settings),
        consent=consent_service(settings),
        follow_ups=follow_up_ladders(settings),
        once=once_per_key(settings),
        texts=settings.texts,
        config=FollowUpConfig(
            n8n_path=settings.n8n_scheduling_path,
            confirmation_template=settings.appointment_confirmation_template,
            reminder_template=settings.appointment_reminder_template,
        ),
    )


@cache
def meetings_held(settings: Settings) -> MeetingsHeld:
    """Whether a meeting was held, once its no-show grace period is over (counted in the funnel)."""
    from sales_assistant.adapters.agenda import DynamoAgenda
    from sales_assistant.services.meetings_held import MeetingsHeld

    return MeetingsHeld(
        agenda=DynamoAgenda(settings.appointments_table), once=once_per_key(settings), funnel=funnel(settings)
    )


@cache
def follow_up_ladders(settings: Settings) -> FollowUpLadders:
    """Each lead's follow-up ladder in DynamoDB, started and stopped by the other flows."""
    from sales_assistant.adapters.follow_ups import DynamoFollowUps
    from sales_assistant.services.follow_ups import FollowUpLadders, LadderConfig

    if not settings.follow_ups_table:
        raise SettingsError("FOLLOW_UPS_TABLE: required by the follow-ups")
    return FollowUpLadders(
        DynamoFollowUps(settings.follow_ups_table),
        LadderConfig(settings.follow_up_offsets, settings.follow_up_max_per_lead, settings.follow_up_status_ids),
    )


def funnel_counts(settings: Settings) -> FunnelCounts:
    """The sales funnel's daily aggregates in DynamoDB (the report reads them; the funnel and the costs count)."""
    from sales_assistant.adapters.funnel import DynamoFunnelCounts

    if not settings.funnel_table:
        raise SettingsError("FUNNEL_TABLE: required by the sales funnel")
    return DynamoFunnelCounts(settings.funnel_table)


@cache
def funnel(settings: Settings) -> Funnel:
    """What the flows count in the sales funnel, on the account's days; counts nothing without FUNNEL_TABLE."""
    from sales_assistant.adapters.follow_ups import DynamoFollowUps
    from sales_assistant.services.funnel import Funnel

    return Funnel(
        funnel_counts(settings) if settings.funnel_table else None,
        settings.account_timezone,
        conversations=conversation_repository(settings),
        follow_ups=DynamoFollowUps(settings.follow_ups_table) if settings.follow_ups_table else None,
    )


@cache
def follow_up_messages(settings: Settings) -> FollowUpMessages:
    """The follow-ups themselves: queued by the sweep, each written by n8n (or a template) and delivered."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.services.follow_up_messages import FollowUpMessageConfig, FollowUpMessages

    return FollowUpMessages(
        ladders=follow_up_ladders(settings),
        kommo=kommo_client(settings),
        salespeople=salespeople(settings),
        conversations=conversation_repository(settings),
        door=conversation_door(settings),
        delivery=delivery(settings),
        writer=answer_writer(settings),
        actions=answer_actions(settings),
        takeover=takeover_service(settings),
        consent=consent_service(settings),
        notes=lead_notes(settings),
        queue=queue_publisher(settings),
        once=once_per_key(settings),
        funnel=funnel(settings),
        texts=settings.texts,
        config=FollowUpMessageConfig(
            n8n_path=settings.n8n_follow_up_path,
            reply_field_id=settings.kommo_reply_field_id,
            template=settings.follow_up_template,
            history_turns=settings.history_turns,
        ),
        budget=budget(settings),
    )


@cache
def delivery(settings: Settings) -> Delivery:
    """The one way out to a client's WhatsApp (Salesbot relay, once per key)."""
    from sales_assistant.adapters.delivery_log import DynamoDeliveryLog
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.switches import SsmSwitches
    from sales_assistant.services.delivery import Delivery, DeliveryConfig

    return Delivery(
        kommo=kommo_client(settings),
        echoes=echo_memory(settings),
        log=DynamoDeliveryLog(settings.idempotency_table, settings.dedup_ttl_seconds),
        notes=lead_notes(settings),
        texts=settings.texts,
        config=DeliveryConfig(
            salesbot_id=settings.kommo_salesbot_id,
            reply_field_id=settings.kommo_reply_field_id,
            template_salesbot_id=settings.kommo_template_salesbot_id,
            template_salesbots=settings.template_salesbots,
            template_fields=settings.template_fields,
        ),
        switches=SsmSwitches(settings.kill_switch_parameter),
        costs=costs(settings),
    )


@cache
def costs(settings: Settings) -> Costs | None:
    """What delivered messages and n8n answers cost, counted in the funnel's table (None without FUNNEL_TABLE)."""
    from sales_assistant.models.prices import PriceTable
    from sales_assistant.services.costs import Costs

    if not settings.funnel_table:
        return None
    return Costs(
        funnel_counts(settings),
        PriceTable.shipped(),
        country=settings.whatsapp_country,
        timezone=settings.account_timezone,
    )


@cache
def budget(settings: Settings) -> Budget | None:
    """The monthly budget over what `costs` counts (MONTHLY_BUDGET_USD, or the kill-switch parameter's
    monthly_budget_usd set live); None when costs are not counted."""
    from sales_assistant.adapters.switches import SsmSwitches
    from sales_assistant.services.budget import Budget, BudgetConfig

    counted = costs(settings)
    if counted is None:
        return None
    config = BudgetConfig(monthly_usd=settings.monthly_budget_usd, stops=settings.budget_stops)
    return Budget(counted, lead_notes(settings), settings.texts, config, SsmSwitches(settings.kill_switch_parameter))


@cache
def lead_notes(settings: Settings) -> OnceLeadNotes:
    """Notes and tasks on leads, once per key."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.lead_notes import OnceLeadNotes

    return OnceLeadNotes(
        kommo_client(settings), echo_memory(settings), settings.idempotency_table, settings.dedup_ttl_seconds
    )


def salespeople(settings: Settings) -> DynamoSalespeople:
    """The salespeople cache."""
    from sales_assistant.adapters.salespeople import DynamoSalespeople

    return DynamoSalespeople(settings.salespeople_table)


def sent_salespeople(settings: Settings) -> DynamoSentSalespeople:
    """The fingerprint of the salesperson list n8n last stored (the sync sends a changed list only)."""
    from sales_assistant.adapters.salespeople import DynamoSentSalespeople

    return DynamoSentSalespeople(settings.kommo_table)


def queue_publisher(settings: Settings) -> QueuePublisher:
    """The service's queues (conversations, commands, lead events, triggers, scheduling)."""
    from sales_assistant.adapters.queues import QueuePublisher

    return QueuePublisher.from_settings(settings)


def once_or_in_progress(settings: Settings) -> Once:
    """run_once on the idempotency table for a caller that answers a running key itself (the webhook intake's
    409, POST /messages): a key another request is running answers {"in_progress": True}."""
    from sales_assistant.adapters.once import run_once

    return partial(run_once, table_name=settings.idempotency_table, ttl_seconds=settings.dedup_ttl_seconds)


def parked_entities(settings: Settings) -> DynamoParkedEntities:
    """Webhook entities the intake could not read, kept for an operator."""
    from sales_assistant.adapters.parked import DynamoParkedEntities

    return DynamoParkedEntities(settings.kommo_table)


def received_messages(settings: Settings) -> DynamoReceivedMessages:
    """Client messages the intake received (the canary's watchdog compares Kommo's events with them)."""
    from sales_assistant.adapters.received import DynamoReceivedMessages

    return DynamoReceivedMessages(settings.kommo_table)


def sync_lock(settings: Settings) -> DynamoSyncLock:
    """One salespeople sync at a time, and one on-demand run per VENDOR_SYNC_MIN_INTERVAL_SECONDS."""
    from sales_assistant.adapters.sync_lock import DynamoSyncLock

    return DynamoSyncLock(settings.kommo_table, settings.salesperson_sync_min_interval_seconds)


@cache
def echo_memory(settings: Settings) -> DynamoEchoMemory:
    """Echo keys of the service's own effects in Kommo."""
    from sales_assistant.adapters.echo_memory import DynamoEchoMemory

    return DynamoEchoMemory(settings.kommo_table, settings.echo_ttl_seconds)


@cache
def conversation_repository(settings: Settings) -> DynamoConversationRepository:
    """Conversations in DynamoDB (shared by the worker and the commands consumer)."""
    from sales_assistant.adapters.conversations import DynamoConversationRepository

    return DynamoConversationRepository(
        settings.conversations_table, settings.conversation_ttl_days * 86400, settings.history_turns
    )


@cache
def health_canary(settings: Settings) -> HealthCanary:
    """The canary: Kommo, n8n, the webhook, the queues and the missed-message watchdog."""
    from sales_assistant.adapters.bot_state import DynamoBotStateRepository
    from sales_assistant.adapters.breaker import Breaker
    from sales_assistant.adapters.health import DynamoHealthStore, SqsQueueDepths
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.n8n import n8n_client
    from sales_assistant.adapters.received import DynamoReceivedMessages
    from sales_assistant.models.bot_state import BotStatus
    from sales_assistant.services.health import HealthCanary, HealthConfig

    if not settings.kommo_webhook_base_url:
        raise SettingsError("KOMMO_WEBHOOK_BASE_URL: required by the canary (the URL Kommo's webhook points at)")
    bot_states = DynamoBotStateRepository(settings.bot_state_table)
    return HealthCanary(
        kommo=kommo_client(settings),
        ai=n8n_client(settings),
        store=DynamoHealthStore(settings.kommo_table),
        received=DynamoReceivedMessages(settings.kommo_table),
        notes=lead_notes(settings),
        queue_depths=SqsQueueDepths(
            {
                "conversations": settings.conversations_queue_url,
                "commands": settings.commands_queue_url,
                "lead_events": settings.lead_events_queue_url,
            }
        ),
        paused_bots=lambda: len(bot_states.with_status(BotStatus.PAUSED)),
        breakers=lambda: {name: Breaker(settings.kommo_table, name).status() for name in ("kommo", "n8n")},
        texts=settings.texts,
        config=HealthConfig(
            n8n_health_path=settings.n8n_health_path,
            webhook_base_url=settings.kommo_webhook_base_url,
            queue_max_age_seconds=settings.queue_max_age_seconds,
            watchdog_grace_seconds=settings.watchdog_grace_seconds,
        ),
    )


def reset() -> None:
    """Forget the built services (tests)."""
    for factory in (
        health_canary,
        messages_to_clients,
        no_shows,
        scheduling_service,
        appointment_followups,
        follow_up_messages,
        follow_up_ladders,
        funnel,
        proactive_outreach,
        consent_service,
        handovers,
        takeover_service,
        reactive_conversations,
        conversation_repository,
        delivery,
        lead_notes,
        echo_memory,
    ):
        factory.cache_clear()
