// The chat model, passed on to the AI Agent as it is, with every completion's token usage added up in
// the execution's custom data ($execution.customData: usage_model, usage_input_tokens,
// usage_output_tokens), which "Sign answer" turns into the answer's `usage`. n8n 1.123's AI Agent
// returns neither the model's token usage nor its completions, and the nodes after it cannot read the
// chat model's own output (an expression reads main outputs only), so the tokens are counted here, as
// the provider reported them (LangChain's llmOutput.tokenUsage): never estimated. `model` is the model
// the Chat model node asks for.
const model = await this.getInputConnectionData('ai_languageModel', 0);
const counted = $execution.customData;
const add = (key, tokens) => counted.set(key, String(Number(counted.get(key) || 0) + (Number(tokens) || 0)));
// pushed into the model's own list, not a new one: the agent binds its tools to a copy of the model
// made from the same settings, this list included
model.callbacks.push({
  awaitHandlers: true, // counted before the agent goes on, as n8n's own tracing is
  handleLLMEnd(output) {
    const tokens = output.llmOutput && output.llmOutput.tokenUsage;
    if (!tokens) return; // the provider reported none: no usage rather than a guess
    counted.set('usage_model', String(model.model || ''));
    add('usage_input_tokens', tokens.promptTokens);
    add('usage_output_tokens', tokens.completionTokens);
  },
});
return model;
