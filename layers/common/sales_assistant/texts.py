"""Texts that clients and salespeople see: Brazilian Portuguese by default, each one configurable.

Override any of them with the BOT_TEXTS setting, a JSON object of name -> text (same placeholders).
"""

from __future__ import annotations

import json
import string

from pydantic import ConfigDict

from sales_assistant.models import Model


class Texts(Model):
    """Every text the service writes to a chat or on a lead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback_reply: str = "Olá! Recebemos sua mensagem e um dos nossos consultores vai te responder em instantes. 🙂"
    unreadable_reply: str = "Desculpe, não consegui abrir sua mensagem. Pode me enviar em texto, por favor?"
    note_exchange: str = "💬 Cliente:\n{client}\n\n🤖 Assistente:\n{reply}"
    note_api_message: str = "🤖 Mensagem enviada pelo assistente (n8n):\n{text}"
    note_reply_stopped: str = "Mensagem do cliente sem resposta do assistente: {reason}. Responda pelo chat."
    note_reply_dropped: str = "Resposta do assistente descartada porque o bot foi pausado durante a conversa:\n{reply}"
    note_paused: str = "Bot pausado por {who} ({how})."
    note_resumed: str = "Bot reativado por {who} ({how})."
    note_already_active: str = "O bot já estava ativo para este contato: nada foi alterado."
    note_auto_resumed: str = "Bot reativado automaticamente após {hours} h sem atividade humana."
    note_status: str = "Status do bot para o contato {contact}: {status}."
    note_unknown_command: str = (
        "Comando não reconhecido: {command}. Use /assumir, /liberar, /status ou /faltou, com ou sem id."
    )
    note_unknown_id: str = "Não encontrei lead nem contato com o id {id}. Nada foi alterado."
    how_command_pause: str = "comando /assumir"
    how_command_resume: str = "comando /liberar"
    how_manual_reply: str = "resposta manual no chat"
    how_ai_handover: str = "o assistente passou a conversa para um humano"
    how_admin_api: str = "painel de administração"
    phone_app_author: str = "atendente pelo app WhatsApp Business"
    status_active: str = "ativo"
    status_paused: str = "pausado por {who} desde {since}"
    task_fallback: str = (
        "O assistente não conseguiu responder ao cliente ({reason}). Enviamos a mensagem padrão: confira a conversa."
    )
    task_handover: str = "O cliente precisa de atendimento humano: {reason}"
    task_handover_unanswered: str = (
        "O cliente pediu atendimento humano e ninguém respondeu em {hours} h de expediente de {vendedor}."
        " Confira o chat ou passe o lead a outra pessoa."
    )
    handover_now: str = "Já chamei nosso time: uma pessoa vai te responder em instantes. 🙂"
    handover_later: str = "Já chamei nosso time! Estamos fora do horário de atendimento: uma pessoa te responde {when}."
    when_at: str = "{day} às {hour}"
    day_today: str = "hoje"
    day_tomorrow: str = "amanhã"
    day_date: str = "no dia {date}"
    day_monday: str = "segunda-feira"
    day_tuesday: str = "terça-feira"
    day_wednesday: str = "quarta-feira"
    day_thursday: str = "quinta-feira"
    day_friday: str = "sexta-feira"
    day_saturday: str = "sábado"
    day_sunday: str = "domingo"
    task_action: str = 'O assistente pediu a ação "{action}" ({details}). Por favor, dê sequência.'
    note_lead_changes: str = "🤖 O assistente atualizou o lead:\n{changes}"
    change_status: str = "• etapa alterada (id {status})"
    change_field: str = "• {field}: {value}"
    change_field_refused: str = "• {field}: não preenchido, {reason}"
    change_tags: str = "• tags adicionadas: {tags}"
    field_unknown: str = "não é um dos campos que o assistente pode preencher"
    field_missing: str = "o campo não existe mais no Kommo"
    field_type_refused: str = 'o assistente não preenche campos do tipo "{type}"'
    field_not_an_option: str = '"{value}" não é uma das opções ({options})'
    field_not_numeric: str = '"{value}" não é um número'
    field_not_date: str = '"{value}" não é uma data (AAAA-MM-DD)'
    field_text_refused: str = "o texto está vazio ou passa de {max} caracteres"
    task_delivery_unconfirmed: str = (
        "Não foi possível confirmar que a resposta do assistente chegou ao cliente (o Kommo não respondeu a tempo)."
        " Confira o chat e, se ela não estiver lá, envie: {reply}"
    )
    proactive_fallback: str = (
        "Olá, {nome}! Recebemos seu contato e vou te ajudar por aqui. Quando for um bom momento para conversarmos?"
    )
    note_proactive_sent: str = (
        "Primeira mensagem enviada pelo assistente ({trigger}).\nVendedor(a): {salesperson} ({routing}).\n"
        "Mensagem: {message}"
    )
    note_proactive_skipped: str = "Primeira mensagem não enviada ({trigger}): {reason}."
    note_proactive_held: str = (
        "Primeira mensagem retida ({trigger}): {reason}. Ela sai quando o assistente for liberado, "
        "no horário do(a) vendedor(a)."
    )
    follow_up_fallback: str = "Olá, {nome}! Passando para saber se ficou alguma dúvida. Estou por aqui para ajudar. 🙂"
    note_follow_up_sent: str = "🔁 Follow-up {attempt} de {of} enviado (o cliente não respondeu):\n{message}"
    trigger_form: str = "formulário preenchido"
    trigger_material: str = "material baixado"
    trigger_meeting_request: str = "pedido de reunião"
    route_responsible: str = "responsável pelo lead"
    route_responsible_unknown: str = "o responsável não é um vendedor conhecido; escolhido por rodízio da área"
    route_responsible_inactive: str = "o responsável está inativo; escolhido por rodízio da área"
    route_test_user_for_real_lead: str = "o responsável é usuário de teste; escolhido por rodízio da área"
    route_area_mismatch: str = "o responsável não atende a área do lead; escolhido por rodízio da área"
    route_no_one_in_area: str = "ninguém atende a área do lead; mantido o responsável"
    skip_lead_closed: str = "o lead já está ganho ou perdido"
    skip_no_phone: str = "o contato não tem telefone nem chat de WhatsApp"
    skip_paused: str = "o bot está pausado para este contato"
    skip_recently_contacted: str = "o assistente já escreveu primeiro para este lead há pouco"
    skip_no_salesperson: str = "nenhum vendedor ativo atende este lead"
    skip_kill_switch: str = "o assistente está desligado (chave geral)"
    skip_salesperson_paused: str = "o assistente está pausado para os leads deste(a) vendedor(a)"
    skip_template_not_configured: str = "a janela de 24 h está fechada e não há modelo configurado"
    skip_opted_out: str = "o cliente pediu para não receber mensagens do assistente"
    skip_budget: str = "o orçamento mensal do assistente foi atingido"
    task_budget_reached: str = (
        "O orçamento mensal do assistente (US$ {budget}) foi atingido: até o dia 1º ou até o orçamento ser "
        "aumentado, ele não envia {paths}. Este lead e os próximos ficam com você."
    )
    budget_path_first_messages: str = "primeiras mensagens"
    budget_path_follow_ups: str = "follow-ups"
    budget_path_replies: str = "respostas aos clientes"
    opt_out_confirmation: str = (
        "Pronto, não vamos mais te enviar mensagens por aqui. Se precisar de algo, é só escrever."
        " Para voltar a receber nossas mensagens, envie VOLTAR."
    )
    opt_in_confirmation: str = "Combinado! Você voltará a receber nossas mensagens por aqui. 😊"
    note_opted_out: str = (
        '🚫 O cliente pediu para não receber mais mensagens ("{words}", {when}). O assistente não escreve mais'
        " primeiro a este contato (primeiras mensagens, follow-ups) até ele enviar VOLTAR; se ele escrever, o"
        " assistente responde."
    )
    note_opted_in: str = (
        '✅ O cliente pediu para voltar a receber mensagens ("{words}", {when}). O assistente pode escrever primeiro'
        " de novo."
    )
    appointment_confirmation: str = (
        "Tudo certo, {nome}! ✅ Sua reunião com {vendedor} está marcada para {data} às {hora}."
        " Se precisar mudar, é só me avisar por aqui."
    )
    appointment_reminder: str = (
        "Olá, {nome}! Lembrete: sua reunião com {vendedor} é {data} às {hora}. "
        "Se não puder, é só responder aqui que eu te ofereço outro horário. 📅"
    )
    note_appointment_booked: str = (
        "📅 Reunião marcada pelo assistente: {data} às {hora} ({fuso}), {minutos} min com {vendedor}.\nId: {id}"
    )
    note_appointment_rescheduled: str = "📅 Reunião remarcada para {data} às {hora} ({fuso}) com {vendedor}.\nId: {id}"
    note_appointment_cancelled: str = "📅 Reunião de {data} às {hora} ({fuso}) cancelada.\nId: {id}"
    task_meeting: str = "Reunião com o cliente marcada pelo assistente: {data} às {hora} ({fuso})."
    task_meeting_cancelled: str = "Reunião de {data} às {hora} ({fuso}) cancelada: concluída pelo assistente."
    task_appointment_salesperson_has_chat: str = (
        "A reunião de {data} às {hora} está marcada. O assistente não escreveu ao cliente porque você assumiu a"
        " conversa: confirme com ele."
    )
    task_appointment_unconfirmed: str = (
        "A reunião de {data} às {hora} está marcada, mas a janela de 24 h do WhatsApp está fechada e não há modelo"
        " configurado: confirme com o cliente."
    )
    no_show_offer: str = (
        "Oi, {nome}! Sentimos sua falta na reunião de {data} às {hora} com {vendedor}. Quer remarcar?"
        " Tenho estes horários:\n{horarios}\nÉ só responder com o melhor para você. 📅"
    )
    note_no_show_offered: str = (
        "❌ Falta registrada por {who}: reunião de {data} às {hora} com {vendedor}.\n"
        "O assistente ofereceu novos horários ao cliente:\n{horarios}"
    )
    note_no_show_template: str = (
        "❌ Falta registrada por {who}: reunião de {data} às {hora} com {vendedor}.\n"
        'A janela de 24 h do WhatsApp está fechada: o assistente enviou o modelo "{modelo}" para remarcar.'
    )
    note_no_show_not_offered: str = (
        "❌ Falta registrada por {who}: reunião de {data} às {hora} com {vendedor}.\n"
        "O assistente não ofereceu novos horários: {motivo}. Fale com o cliente."
    )
    note_no_show_already: str = (
        "A falta na reunião de {data} às {hora} já estava registrada: nada foi enviado ao cliente de novo."
    )
    note_no_show_none: str = "Não encontrei reunião já iniciada deste lead para marcar como falta. Nada foi alterado."
    no_show_reason_opted_out: str = "o cliente pediu para não receber mensagens do assistente"
    no_show_reason_salesperson_has_chat: str = "um vendedor assumiu a conversa"
    no_show_reason_no_slots: str = "não há horários livres na agenda nos próximos dias"
    no_show_reason_window_closed: str = (
        "a janela de 24 h do WhatsApp está fechada e não há modelo configurado (NO_SHOW_TEMPLATE)"
    )
    no_show_reason_template_not_configured: str = (
        'o modelo "{modelo}" não pode ser enviado (sem Salesbot de modelo ou sem campo para nome, data e hora)'
    )
    no_show_reason_stopped: str = "as mensagens do assistente estão suspensas"
    no_show_reason_no_contact: str = "o lead não tem contato"
    note_reminder_opted_out: str = (
        "O cliente pediu para não receber mensagens do assistente: ele não recebe os lembretes da reunião de {data}"
        " às {hora}. Se quiser, confirme a reunião com ele."
    )
    task_template_needed: str = 'A janela de 24 h do WhatsApp está fechada: envie o modelo "{template}" ao cliente.'
    note_message_missed: str = (
        "Uma mensagem do cliente de {when} (horário de Brasília) está no Kommo, mas não chegou ao assistente:"
        " ela não foi respondida automaticamente."
    )
    task_message_missed: str = (
        "Responda ao cliente: a mensagem dele de {when} (horário de Brasília) não chegou ao assistente e está"
        " sem resposta. Confira o chat."
    )

    def render(self, name: str, **values: object) -> str:
        """The text `name` with its placeholders filled; unknown placeholders stay visible."""
        template: str = getattr(self, name)
        return string.Formatter().vformat(template, (), _KeepMissing(values))


class _KeepMissing(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def load_texts(overrides_json: str) -> Texts:
    """Default texts with the BOT_TEXTS overrides applied (raises ValueError on bad JSON or names)."""
    overrides = json.loads(overrides_json) if overrides_json.strip() else {}
    if not isinstance(overrides, dict):
        raise ValueError("BOT_TEXTS must be a JSON object of text name -> text")
    return Texts.model_validate(overrides)
