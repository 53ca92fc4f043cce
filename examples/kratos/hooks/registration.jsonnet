// Body Kratos posts to callpass-kratos after a password registration
// (selfservice.flows.registration.after.password.hooks, web_hook with
// can_interrupt, so it runs before the identity is stored) at
// POST /hooks/kratos/registration. identity_id is the zero UUID there and
// there is no session: flow_id, flow_type and traits are what matter.
// Kratos v1.3.1 evaluates this as function(ctx) (ctx is a top-level
// argument). Header keys in ctx.request_headers arrive in Go's canonical form
// ("True-Client-Ip"), already cut down to Kratos's allow list: Accept,
// Accept-Language, Content-Type, Origin, Referer, User-Agent, True-Client-Ip,
// Sec-*... X-Forwarded-For and X-Real-IP never reach this template, so
// client_ip is True-Client-IP when a proxy sets it and otherwise the address
// Kratos itself recorded for the session device. The lookups below still
// ignore case and try X-Forwarded-For / X-Real-IP in case a later Kratos
// forwards them. Missing or null fields give '', {}, [] or null, never an
// error. Self-contained on purpose: the Kratos jsonnet sandbox has no imports.
function(ctx)
  local get(o, k, d) = if o != null && std.isObject(o) && std.objectHas(o, k) && o[k] != null then o[k] else d;
  local flow = get(ctx, 'flow', {});
  local identity = get(ctx, 'identity', {});
  local session = get(ctx, 'session', {});
  local headers = get(ctx, 'request_headers', {});
  // Only the trait holding the phone number is sent (the service reads no
  // other): kratos.phone_trait as a path, 'contact.phone' being
  // ['contact', 'phone']. Keep the two in step.
  local phonePath = ['phone'];
  local pick(o, path) =
    if o == null || !std.isObject(o) || !std.objectHas(o, path[0]) then {}
    else if std.length(path) == 1 then { [path[0]]: o[path[0]] }
    else local inner = pick(o[path[0]], path[1:]); if inner == {} then {} else { [path[0]]: inner };
  // First value of a header, matched without regard to case; '' when absent.
  local header(name) =
    local keys = [k for k in std.objectFields(headers) if std.asciiLower(k) == std.asciiLower(name)];
    local values = if std.length(keys) == 0 then [] else headers[keys[0]];
    if values == null || std.length(values) == 0 then '' else std.stripChars(values[0], ' \t');
  // Kratos's own client IP for the session device; it may be a bare
  // RemoteAddr with a port ("127.0.0.1:53412", "[::1]:53412").
  local deviceIP =
    local devices = get(session, 'devices', []);
    local raw = if std.length(devices) == 0 then '' else get(devices[0], 'ip_address', '');
    if std.startsWith(raw, '[') then std.split(std.substr(raw, 1, std.length(raw) - 1), ']')[0]
    else if std.length(std.findSubstr(':', raw)) == 1 then std.split(raw, ':')[0]
    else raw;
  local xff = header('X-Forwarded-For');
  local clientIP =
    if header('True-Client-IP') != '' then header('True-Client-IP')
    else if xff != '' then std.stripChars(std.split(xff, ',')[0], ' \t')
    else if header('X-Real-IP') != '' then header('X-Real-IP')
    else deviceIP;
  {
    flow_id: get(flow, 'id', ''),
    flow_type: get(flow, 'type', ''),
    identity_id: get(identity, 'id', ''),
    traits: pick(get(identity, 'traits', {}), phonePath),
    // The service checks it is its kratos.phone_trait.
    phone_trait: std.join('.', phonePath),
    metadata_public: get(identity, 'metadata_public', null),
    transient_payload: get(flow, 'transient_payload', {}),
    // authenticated_at is already set here and stored with the session: a
    // passed login gate is bound to the session by it (registration and
    // settings record no pass). Kratos moves it on a later AAL upgrade; the
    // password method's completed_at, within microseconds of it, still finds
    // the pass (see docs/architecture.md).
    session: {
      authenticated_at: get(session, 'authenticated_at', null),
      expires_at: get(session, 'expires_at', null),
      aal: get(session, 'authenticator_assurance_level', ''),
    },
    client_ip: clientIP,
    // Only the header the service uses (localised messages): a small body
    // is cheaper for Kratos to render and for the service to check.
    accept_language: header('Accept-Language'),
  }
