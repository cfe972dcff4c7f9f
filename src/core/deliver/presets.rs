//! Chat presets (`format = "slack" | "teams" | "discord" | "google-chat"`): a readable message
//! per B2B event instead of the CloudEvent, in the body each chat's incoming webhook takes.
//!
//! The words come from the event type, and the names from `data.resource` when the target is
//! enriched (company name, buyer, address, quote number…), ids otherwise. Every value from
//! the event is clipped and escaped for the chat's markup, so a company called `<!channel>` or
//! `@everyone` pings no one, and every message stays inside the vendor's documented limits.

use crate::core::catalog::{self, Action, Resource};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Slack incoming webhook: `text` + Block Kit `blocks`.
    Slack,
    /// Microsoft Teams Workflows webhook: a message with one Adaptive Card 1.4.
    Teams,
    /// Discord webhook: `content` + one embed, mentions disabled.
    Discord,
    /// Google Chat incoming webhook: `text` + one `cardsV2` card.
    GoogleChat,
}

impl Preset {
    pub const ALL: [Preset; 4] = [
        Preset::Slack,
        Preset::Teams,
        Preset::Discord,
        Preset::GoogleChat,
    ];

    /// The `format` value that selects the preset.
    pub fn parse(format: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == format)
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Slack => "slack",
            Preset::Teams => "teams",
            Preset::Discord => "discord",
            Preset::GoogleChat => "google-chat",
        }
    }

    /// Every preset's body is JSON.
    pub fn content_type(self) -> &'static str {
        "application/json"
    }
}

/// Characters kept of any one value from the event (a name, an email, an address).
const VALUE_CHARS: usize = 200;
/// A console link longer than this is left out rather than sent broken or refused.
const MAX_LINK: usize = 2000;

/// The message, before a chat's markup.
struct Message {
    headline: String,
    summary: Vec<Seg>,
    facts: Vec<(&'static str, String)>,
    link: Option<String>,
    footer: String,
    /// RFC 3339, only when the event's time is one.
    time: Option<String>,
    color: u32,
}

/// A piece of the summary sentence: fixed words, or a value from the event (shown bold).
enum Seg {
    Words(&'static str),
    Value(String),
}

use Seg::{Value as V, Words as W};

/// The message body for `event` (the structured CloudEvent as a JSON object, enriched or not)
/// in `preset`'s format. `public_url` is the relay's public base URL: with it, the message
/// links to the event's page in the console. Always valid JSON.
pub fn render(preset: Preset, event: &Value, public_url: Option<&str>) -> String {
    let msg = message(event, public_url);
    match preset {
        Preset::Slack => slack(&msg),
        Preset::Teams => teams(&msg),
        Preset::Discord => discord(&msg),
        Preset::GoogleChat => google_chat(&msg),
    }
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if s[cut..].chars().nth(1).is_some() => format!("{}…", &s[..cut]),
        _ => s.to_owned(),
    }
}

/// Clips text whose markup escapes use `&…;` entities without cutting one in half.
fn clip_escaped(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut = s
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(s.len(), |(i, _)| i);
    if let Some(amp) = s[..cut].rfind('&') {
        if !s[amp..cut].contains(';') {
            cut = amp;
        }
    }
    format!("{}…", &s[..cut])
}

/// A value from the event as display text: a non-blank string or a number.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        // One line: a newline in a name must not start a heading, list or quote in markup.
        Value::String(s) => {
            let line: String = s
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let line = line.trim();
            (!line.is_empty()).then(|| clip(line, VALUE_CHARS))
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field<'a>(v: Option<&'a Value>, k: &str) -> Option<&'a Value> {
    v?.as_object()?.get(k)
}

/// A status or role code, given as a number or as a string of digits.
fn code(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn company_status(v: Option<&Value>) -> Option<(&'static str, &'static str)> {
    Some(match code(v)? {
        0 => ("Pending approval", "is awaiting approval"),
        1 => ("Approved", "is now approved"),
        2 => ("Rejected", "was rejected"),
        3 => ("Inactive", "is now inactive"),
        _ => return None,
    })
}

fn quote_status(v: Option<&Value>) -> Option<&'static str> {
    Some(match code(v)? {
        0 => "New",
        2 => "In process",
        3 => "Updated by customer",
        4 => "Ordered",
        5 => "Expired",
        6 => "Archived",
        7 => "Draft",
        _ => return None,
    })
}

fn user_role(res: Option<&Value>) -> Option<String> {
    text(field(res, "companyRoleName")).or_else(|| {
        let r = match code(field(res, "role"))? {
            0 => "Admin",
            1 => "Senior buyer",
            2 => "Junior buyer",
            _ => return None,
        };
        Some(r.to_owned())
    })
}

/// "First Last", else the email.
fn person(res: Option<&Value>) -> Option<String> {
    let first = text(field(res, "firstName")).unwrap_or_default();
    let last = text(field(res, "lastName")).unwrap_or_default();
    let name = format!("{first} {last}");
    let name = name.trim();
    if name.is_empty() {
        text(field(res, "email"))
    } else {
        Some(name.to_owned())
    }
}

fn address_line(res: Option<&Value>) -> Option<String> {
    let parts: Vec<String> = [
        "addressLine1",
        "addressLine2",
        "city",
        "stateName",
        "zipCode",
        "countryName",
    ]
    .iter()
    .filter_map(|k| text(field(res, k)))
    .collect();
    (!parts.is_empty()).then(|| clip(&parts.join(", "), VALUE_CHARS))
}

fn money(res: Option<&Value>) -> Option<String> {
    let total = field(res, "grandTotal").or_else(|| field(res, "totalAmount"))?;
    let currency = field(res, "currency");
    let places = code(field(currency, "decimalPlaces")).map_or(2, |p| p.min(6) as usize);
    let amount = match total {
        Value::Number(n) => n.as_f64().map(|x| format!("{x:.places$}")),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Some(format!("{x:.places$}")),
            _ => text(Some(total)),
        },
        _ => None,
    }?;
    Some(match text(field(currency, "currencyCode")) {
        Some(c) => format!("{amount} {c}"),
        None => amount,
    })
}

/// `#1234` for an id in `data`.
fn id(data: Option<&Value>, k: &str) -> Option<String> {
    text(field(data, k)).map(|i| format!("#{i}"))
}

fn percent_encode_id(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn console_link(event: &Value, public_url: Option<&str>) -> Option<String> {
    let base = public_url?.trim().trim_end_matches('/');
    // A base the chat would refuse as a link (no host, spaces) gives no link, not a 400.
    let host = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))?;
    if host.is_empty()
        || host.starts_with('/')
        || base.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let id = event.get("id")?.as_str().filter(|s| !s.is_empty())?;
    let link = format!("{base}/console/#/events/{}", percent_encode_id(id));
    (link.len() <= MAX_LINK).then_some(link)
}

/// The catalog entry of an event, from `bcscope`, else from its `type`.
fn kind(event: &Value) -> Option<(Resource, Action)> {
    if let Some(k) = event
        .get("bcscope")
        .and_then(Value::as_str)
        .and_then(catalog::lookup)
    {
        return Some(k);
    }
    let ty = event.get("type")?.as_str()?;
    let short = ty.strip_prefix(catalog::TYPE_PREFIX)?;
    catalog::lookup(&format!("store/{}", short.replace('.', "/")))
}

fn message(event: &Value, public_url: Option<&str>) -> Message {
    use Action::*;
    use Resource::*;
    let data = event.get("data");
    let res = field(data, "resource").filter(|r| r.is_object());
    let company = || {
        text(field(res, "companyName"))
            .or_else(|| id(data, "company_id"))
            .unwrap_or_else(|| "(unknown)".into())
    };
    let company_id = || id(data, "company_id").unwrap_or_else(|| "(unknown)".into());
    let person_or = |k: &str| {
        person(res)
            .or_else(|| id(data, k))
            .unwrap_or_else(|| "(unknown)".into())
    };
    let mut facts: Vec<(&'static str, String)> = Vec::new();
    let mut fact = |label: &'static str, v: Option<String>| {
        if let Some(v) = v {
            facts.push((label, v));
        }
    };
    let kind = kind(event);
    let (headline, summary, color) = match kind {
        Some((Company, action)) => {
            let status = company_status(field(res, "companyStatus"));
            fact("Company", text(field(res, "companyName")));
            fact("Company ID", id(data, "company_id"));
            fact("Status", status.map(|s| s.0.to_owned()));
            fact("Email", text(field(res, "companyEmail")));
            match action {
                Created if status.is_some_and(|s| s.0.starts_with("Pending")) => (
                    "New company awaiting approval",
                    vec![
                        V(company()),
                        W(" applied for a company account and is awaiting approval"),
                    ],
                    GREEN,
                ),
                Created => (
                    "New company",
                    vec![W("Company "), V(company()), W(" was created")],
                    GREEN,
                ),
                Updated => (
                    "Company updated",
                    vec![W("Company "), V(company()), W(" was updated")],
                    BLUE,
                ),
                Deleted => (
                    "Company deleted",
                    vec![W("Company "), V(company()), W(" was deleted")],
                    RED,
                ),
                StatusUpdated => match status {
                    Some((_, phrase)) => (
                        "Company status changed",
                        vec![W("Company "), V(company()), W(" "), W(phrase)],
                        AMBER,
                    ),
                    None => (
                        "Company status changed",
                        vec![W("The status of company "), V(company()), W(" changed")],
                        AMBER,
                    ),
                },
                AssignmentUpdated => {
                    fact("Super admin ID", id(data, "user_id"));
                    (
                        "Company super admins changed",
                        vec![
                            W("The super admins (sales staff) assigned to company "),
                            V(company()),
                            W(" changed"),
                        ],
                        PURPLE,
                    )
                }
            }
        }
        Some((CompanyUser, action)) => {
            let user = person_or("user_id");
            fact("User", person(res));
            fact("Email", text(field(res, "email")));
            fact("Role", user_role(res));
            fact("User ID", id(data, "user_id"));
            fact("Company ID", id(data, "company_id"));
            match action {
                Created => (
                    "New company user",
                    vec![V(user), W(" was added to company "), V(company_id())],
                    GREEN,
                ),
                Deleted => (
                    "Company user deleted",
                    vec![
                        W("User "),
                        V(user),
                        W(" was removed from company "),
                        V(company_id()),
                    ],
                    RED,
                ),
                _ => (
                    "Company user updated",
                    vec![
                        W("User "),
                        V(user),
                        W(" of company "),
                        V(company_id()),
                        W(" was updated"),
                    ],
                    BLUE,
                ),
            }
        }
        Some((CompanyAddress, action)) => {
            let line = address_line(res);
            let addr = line
                .clone()
                .or_else(|| id(data, "address_id"))
                .unwrap_or_else(|| "(unknown)".into());
            fact("Address", line);
            fact("Label", text(field(res, "label")));
            fact("Address ID", id(data, "address_id"));
            fact("Company ID", id(data, "company_id"));
            match action {
                Created => (
                    "New company address",
                    vec![
                        W("New address for company "),
                        V(company_id()),
                        W(": "),
                        V(addr),
                    ],
                    GREEN,
                ),
                Deleted => (
                    "Company address deleted",
                    vec![
                        W("Address "),
                        V(addr),
                        W(" of company "),
                        V(company_id()),
                        W(" was deleted"),
                    ],
                    RED,
                ),
                _ => (
                    "Company address updated",
                    vec![
                        W("Address "),
                        V(addr),
                        W(" of company "),
                        V(company_id()),
                        W(" was updated"),
                    ],
                    BLUE,
                ),
            }
        }
        Some((SuperAdmin, action)) => {
            let admin = person_or("user_id");
            fact("Super admin", person(res));
            fact("Email", text(field(res, "email")));
            fact("Super admin ID", id(data, "user_id"));
            match action {
                Created => (
                    "New super admin",
                    vec![W("New super admin (sales staff) "), V(admin)],
                    GREEN,
                ),
                Deleted => (
                    "Super admin deleted",
                    vec![W("Super admin "), V(admin), W(" was deleted")],
                    RED,
                ),
                AssignmentUpdated => (
                    "Super admin assignments changed",
                    vec![
                        W("The companies assigned to super admin "),
                        V(admin),
                        W(" changed"),
                    ],
                    PURPLE,
                ),
                _ => (
                    "Super admin updated",
                    vec![W("Super admin "), V(admin), W(" was updated")],
                    BLUE,
                ),
            }
        }
        Some((Quote, action)) => {
            let number = text(field(res, "quoteNumber"));
            let quote = number
                .clone()
                .or_else(|| id(data, "quote_id"))
                .unwrap_or_else(|| "(unknown)".into());
            let status = quote_status(field(res, "status"));
            let contact = field(res, "contactInfo");
            let buyer_company = text(field(contact, "companyName"));
            fact("Quote", number);
            fact("Title", text(field(res, "quoteTitle")));
            fact("Status", status.map(str::to_owned));
            fact("Company", buyer_company.clone());
            let buyer = match (text(field(contact, "name")), text(field(contact, "email"))) {
                (Some(n), Some(e)) => Some(format!("{n} ({e})")),
                (n, e) => n.or(e),
            };
            fact("Buyer", buyer);
            fact("Total", money(res));
            fact("Quote ID", id(data, "quote_id"));
            match action {
                Created => {
                    let mut s = vec![W("New quote "), V(quote)];
                    if let Some(c) = buyer_company {
                        s.extend([W(" from "), V(c)]);
                    }
                    ("New quote", s, GREEN)
                }
                StatusUpdated => match status {
                    Some(st) => (
                        "Quote status changed",
                        vec![W("Quote "), V(quote), W(" is now "), V(st.to_owned())],
                        AMBER,
                    ),
                    None => (
                        "Quote status changed",
                        vec![W("The status of quote "), V(quote), W(" changed")],
                        AMBER,
                    ),
                },
                Deleted => (
                    "Quote deleted",
                    vec![W("Quote "), V(quote), W(" was deleted")],
                    RED,
                ),
                _ => (
                    "Quote updated",
                    vec![W("Quote "), V(quote), W(" was updated")],
                    BLUE,
                ),
            }
        }
        None => {
            let ty = text(event.get("type")).unwrap_or_else(|| "(unknown)".into());
            let subject = text(event.get("subject"));
            fact("Subject", subject.clone());
            let mut s = vec![W("BigCommerce event "), V(ty)];
            if let Some(sub) = subject {
                s.extend([W(" about "), V(sub)]);
            }
            ("BigCommerce event", s, GREY)
        }
    };
    if field(data, "enrichment").and_then(Value::as_str) == Some("failed") {
        let why = text(field(data, "enrichment_error")).unwrap_or_else(|| "unknown error".into());
        fact("Details", Some(format!("unavailable ({why})")));
    }
    let store = text(event.get("storehash"));
    fact("Store", store.clone());
    let mut headline = headline.to_owned();
    if event.get("bctest") == Some(&Value::Bool(true)) {
        headline.push_str(" (test event)");
    }
    let time = event
        .get("time")
        .and_then(Value::as_str)
        .filter(|t| crate::core::time::parse_rfc3339(t).is_some())
        .map(str::to_owned);
    let footer = match &store {
        Some(s) => format!("b2b-relay · store {s}"),
        None => "b2b-relay".to_owned(),
    };
    Message {
        headline,
        summary,
        facts,
        link: console_link(event, public_url),
        footer,
        time,
        color,
    }
}

const GREEN: u32 = 0x2e_b6_7d;
const BLUE: u32 = 0x1d_9b_d1;
const RED: u32 = 0xe0_1e_5a;
const AMBER: u32 = 0xec_b2_2e;
const PURPLE: u32 = 0x8e_44_ad;
const GREY: u32 = 0x95_a5_a6;

/// The summary with each value escaped by `esc` and wrapped in `strong`.
fn sentence(segs: &[Seg], esc: impl Fn(&str) -> String, strong: &str) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            W(w) => out.push_str(w),
            V(v) => {
                out.push_str(strong);
                out.push_str(&esc(v));
                out.push_str(strong);
            }
        }
    }
    out
}

fn plain(s: &str) -> String {
    s.to_owned()
}

/// `footer · time`, the line under each message.
fn footer_line(m: &Message) -> String {
    match &m.time {
        Some(t) => format!("{} · {t}", m.footer),
        None => m.footer.clone(),
    }
}

/// Escapes `&`, `<` and `>` as entities, for Slack mrkdwn (links, mentions) and for the HTML
/// subset of Google Chat's card widgets.
fn entity_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

// The bodies below are serialized from borrowed structs rather than built as `Value`s: a
// message then costs a few allocations instead of a map per JSON object.

#[derive(Serialize)]
struct SlackText<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    text: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emoji: Option<bool>,
}

impl<'a> SlackText<'a> {
    fn mrkdwn(text: impl Into<Cow<'a, str>>) -> Self {
        SlackText {
            ty: "mrkdwn",
            text: text.into(),
            emoji: None,
        }
    }
}

#[derive(Serialize)]
struct SlackButton<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    text: SlackText<'a>,
    url: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum SlackBlock<'a> {
    Header {
        text: SlackText<'a>,
    },
    Section {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<SlackText<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        fields: Option<Vec<SlackText<'a>>>,
    },
    Context {
        elements: [SlackText<'a>; 1],
    },
    Actions {
        elements: [SlackButton<'a>; 1],
    },
}

#[derive(Serialize)]
struct SlackBody<'a> {
    text: &'a str,
    blocks: Vec<SlackBlock<'a>>,
}

/// Slack: section text ≤ 3000 chars, header ≤ 150, ≤ 10 fields of ≤ 2000, button text ≤ 75,
/// URLs ≤ 3000.
fn slack(m: &Message) -> String {
    let summary = clip_escaped(&sentence(&m.summary, entity_escape, "*"), 3000);
    let mut blocks = Vec::with_capacity(5);
    blocks.push(SlackBlock::Header {
        text: SlackText {
            ty: "plain_text",
            text: clip(&m.headline, 150).into(),
            emoji: Some(true),
        },
    });
    blocks.push(SlackBlock::Section {
        text: Some(SlackText::mrkdwn(summary.as_str())),
        fields: None,
    });
    if !m.facts.is_empty() {
        let fields = m.facts.iter().take(10).map(|(k, v)| {
            SlackText::mrkdwn(clip_escaped(&format!("*{k}*\n{}", entity_escape(v)), 2000))
        });
        blocks.push(SlackBlock::Section {
            text: None,
            fields: Some(fields.collect()),
        });
    }
    blocks.push(SlackBlock::Context {
        elements: [SlackText::mrkdwn(clip_escaped(
            &entity_escape(&footer_line(m)),
            3000,
        ))],
    });
    if let Some(link) = &m.link {
        blocks.push(SlackBlock::Actions {
            elements: [SlackButton {
                ty: "button",
                text: SlackText {
                    ty: "plain_text",
                    text: "Open in console".into(),
                    emoji: None,
                },
                url: link,
            }],
        });
    }
    to_json(&SlackBody {
        text: &summary,
        blocks,
    })
}

#[derive(Serialize)]
struct TeamsFact<'a> {
    title: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum TeamsElement<'a> {
    TextBlock {
        text: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        weight: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<&'static str>,
        #[serde(rename = "isSubtle", skip_serializing_if = "Option::is_none")]
        is_subtle: Option<bool>,
        wrap: bool,
    },
    FactSet {
        facts: Vec<TeamsFact<'a>>,
    },
}

#[derive(Serialize)]
struct TeamsAction<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    title: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct AdaptiveCard<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
    version: &'static str,
    body: Vec<TeamsElement<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actions: Option<[TeamsAction<'a>; 1]>,
}

#[derive(Serialize)]
struct TeamsAttachment<'a> {
    #[serde(rename = "contentType")]
    content_type: &'static str,
    #[serde(rename = "contentUrl")]
    content_url: Option<&'static str>,
    content: AdaptiveCard<'a>,
}

#[derive(Serialize)]
struct TeamsBody<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    attachments: [TeamsAttachment<'a>; 1],
}

/// Teams: an Adaptive Card 1.4 in a `message`, as Workflows' "post to a channel when a webhook
/// request is received" expects.
fn teams(m: &Message) -> String {
    let mut body = Vec::with_capacity(4);
    body.push(TeamsElement::TextBlock {
        text: m.headline.as_str().into(),
        weight: Some("Bolder"),
        size: Some("Medium"),
        is_subtle: None,
        wrap: true,
    });
    body.push(TeamsElement::TextBlock {
        text: sentence(&m.summary, plain, "**").into(),
        weight: None,
        size: None,
        is_subtle: None,
        wrap: true,
    });
    if !m.facts.is_empty() {
        let facts = m
            .facts
            .iter()
            .map(|(k, v)| TeamsFact { title: k, value: v });
        body.push(TeamsElement::FactSet {
            facts: facts.collect(),
        });
    }
    body.push(TeamsElement::TextBlock {
        text: footer_line(m).into(),
        weight: None,
        size: Some("Small"),
        is_subtle: Some(true),
        wrap: true,
    });
    to_json(&TeamsBody {
        ty: "message",
        attachments: [TeamsAttachment {
            content_type: "application/vnd.microsoft.card.adaptive",
            content_url: None,
            content: AdaptiveCard {
                schema: "http://adaptivecards.io/schemas/adaptive-card.json",
                ty: "AdaptiveCard",
                version: "1.4",
                body,
                actions: m.link.as_deref().map(|url| {
                    [TeamsAction {
                        ty: "Action.OpenUrl",
                        title: "Open in console",
                        url,
                    }]
                }),
            },
        }],
    })
}

/// Discord markdown: a backslash before punctuation shows it as itself. Values are one line
/// inside `**…**`, so only inline markup (and `<@…>` mentions) needs escaping.
fn discord_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\*_~`|<>[]()".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Serialize)]
struct DiscordField<'a> {
    name: &'a str,
    value: String,
    inline: bool,
}

#[derive(Serialize)]
struct DiscordFooter {
    text: String,
}

#[derive(Serialize)]
struct DiscordEmbed<'a> {
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    color: u32,
    fields: Vec<DiscordField<'a>>,
    footer: DiscordFooter,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
}

#[derive(Serialize)]
struct DiscordMentions {
    parse: [&'static str; 0],
}

#[derive(Serialize)]
struct DiscordBody<'a> {
    content: String,
    embeds: [DiscordEmbed<'a>; 1],
    allowed_mentions: DiscordMentions,
}

/// Discord: content ≤ 2000 chars; embed title ≤ 256, ≤ 25 fields (name ≤ 256, value ≤ 1024),
/// footer ≤ 2048, all of an embed's text ≤ 6000; `allowed_mentions` empty, so no text pings.
fn discord(m: &Message) -> String {
    let title = clip(&m.headline, 256);
    let footer = clip(&m.footer, 2048);
    let mut budget = 6000usize.saturating_sub(title.chars().count() + footer.chars().count());
    let mut fields = Vec::with_capacity(m.facts.len());
    for (k, v) in m.facts.iter().take(25) {
        let value = clip(&discord_escape(v), 1024);
        let cost = k.chars().count() + value.chars().count();
        if cost > budget {
            break;
        }
        budget -= cost;
        fields.push(DiscordField {
            name: k,
            value,
            inline: true,
        });
    }
    to_json(&DiscordBody {
        content: clip(&sentence(&m.summary, discord_escape, "**"), 2000),
        embeds: [DiscordEmbed {
            title,
            url: m.link.as_deref(),
            color: m.color,
            fields,
            footer: DiscordFooter { text: footer },
            timestamp: m.time.as_deref(),
        }],
        allowed_mentions: DiscordMentions { parse: [] },
    })
}

/// Google Chat text: `<users/all>` would mention everyone, so a `<` from the event is followed
/// by a zero-width space.
fn gchat_text_escape(s: &str) -> String {
    s.replace('<', "<\u{200b}")
}

#[derive(Serialize)]
struct ChatDecorated<'a> {
    #[serde(rename = "topLabel")]
    top_label: &'a str,
    text: String,
}

#[derive(Serialize)]
struct ChatOpenLink<'a> {
    url: &'a str,
}

#[derive(Serialize)]
struct ChatOnClick<'a> {
    #[serde(rename = "openLink")]
    open_link: ChatOpenLink<'a>,
}

#[derive(Serialize)]
struct ChatButton<'a> {
    text: &'static str,
    #[serde(rename = "onClick")]
    on_click: ChatOnClick<'a>,
}

#[derive(Serialize)]
struct ChatButtons<'a> {
    buttons: [ChatButton<'a>; 1],
}

#[derive(Serialize)]
enum ChatWidget<'a> {
    #[serde(rename = "decoratedText")]
    DecoratedText(ChatDecorated<'a>),
    #[serde(rename = "buttonList")]
    ButtonList(ChatButtons<'a>),
}

#[derive(Serialize)]
struct ChatSection<'a> {
    widgets: Vec<ChatWidget<'a>>,
}

#[derive(Serialize)]
struct ChatHeader {
    title: String,
    subtitle: String,
}

#[derive(Serialize)]
struct ChatCard<'a> {
    header: ChatHeader,
    #[serde(skip_serializing_if = "Option::is_none")]
    sections: Option<[ChatSection<'a>; 1]>,
}

#[derive(Serialize)]
struct ChatCardV2<'a> {
    #[serde(rename = "cardId")]
    card_id: &'static str,
    card: ChatCard<'a>,
}

#[derive(Serialize)]
struct ChatBody<'a> {
    text: String,
    #[serde(rename = "cardsV2")]
    cards_v2: [ChatCardV2<'a>; 1],
}

/// Google Chat: `text` ≤ 4096 chars, plus one `cardsV2` card (header, decorated texts, a
/// button to the console).
fn google_chat(m: &Message) -> String {
    let mut widgets: Vec<ChatWidget> = m
        .facts
        .iter()
        .map(|(k, v)| {
            ChatWidget::DecoratedText(ChatDecorated {
                top_label: k,
                text: entity_escape(v),
            })
        })
        .collect();
    if let Some(url) = &m.link {
        widgets.push(ChatWidget::ButtonList(ChatButtons {
            buttons: [ChatButton {
                text: "Open in console",
                on_click: ChatOnClick {
                    open_link: ChatOpenLink { url },
                },
            }],
        }));
    }
    to_json(&ChatBody {
        text: clip(&sentence(&m.summary, gchat_text_escape, "*"), 4096),
        cards_v2: [ChatCardV2 {
            card_id: "b2b-relay-event",
            card: ChatCard {
                header: ChatHeader {
                    title: clip(&m.headline, 200),
                    subtitle: clip(&footer_line(m), 200),
                },
                sections: (!widgets.is_empty()).then_some([ChatSection { widgets }]),
            },
        }],
    })
}

/// Strings, numbers and bools only: serializing cannot fail.
fn to_json(body: &impl Serialize) -> String {
    serde_json::to_string(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn company(status: Value) -> Value {
        json!({
            "id": "e41e", "type": "com.bigcommerce.company.created", "time": "2025-11-28T00:00:00Z",
            "storehash": "abc123", "bcscope": "store/company/created",
            "data": {"company_id": 1234, "resource": {"companyName": "Acme", "companyStatus": status}, "enrichment": "ok"}
        })
    }

    fn parsed(p: Preset, ev: &Value, url: Option<&str>) -> Value {
        serde_json::from_str(&render(p, ev, url)).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for p in Preset::ALL {
            assert_eq!(Preset::parse(p.name()), Some(p));
        }
        assert_eq!(Preset::parse("msteams"), None);
    }

    #[test]
    fn a_pending_company_is_awaiting_approval() {
        for status in [json!(0), json!("0")] {
            let slack = parsed(Preset::Slack, &company(status), None);
            assert_eq!(
                slack["text"],
                "*Acme* applied for a company account and is awaiting approval"
            );
        }
        let approved = parsed(Preset::Slack, &company(json!(1)), None);
        assert_eq!(approved["text"], "Company *Acme* was created");
    }

    #[test]
    fn ids_without_enrichment() {
        let ev = json!({"type": "com.bigcommerce.company.user.created", "bcscope": "store/company/user/created",
                        "data": {"company_id": 123456, "user_id": 321}});
        let d = parsed(Preset::Discord, &ev, None);
        assert_eq!(d["content"], "**#321** was added to company **#123456**");
        // An unknown scope still reads.
        let other =
            json!({"type": "com.bigcommerce.order.invoice.created", "data": {"order_id": 5}});
        assert_eq!(
            parsed(Preset::GoogleChat, &other, None)["text"],
            "BigCommerce event *com.bigcommerce.order.invoice.created*"
        );
    }

    #[test]
    fn links_to_the_console() {
        let s = parsed(
            Preset::Slack,
            &company(json!(1)),
            Some("https://relay.example.com/"),
        );
        let blocks = s["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.last().unwrap()["elements"][0]["url"],
            "https://relay.example.com/console/#/events/e41e"
        );
        let none = parsed(Preset::Slack, &company(json!(1)), None);
        assert!(none["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["type"] != "actions"));
        let mut odd = company(json!(1));
        odd["id"] = json!("a/b c");
        let t = parsed(Preset::Teams, &odd, Some("https://r.example"));
        assert_eq!(
            t["attachments"][0]["content"]["actions"][0]["url"],
            "https://r.example/console/#/events/a%2Fb%20c"
        );
    }

    #[test]
    fn markup_from_the_event_is_neutralized() {
        let mut ev = company(json!(1));
        ev["data"]["resource"]["companyName"] = json!("<!channel> & @everyone *x* <users/all>");
        let s = parsed(Preset::Slack, &ev, None);
        assert_eq!(
            s["text"],
            "Company *&lt;!channel&gt; &amp; @everyone *x* &lt;users/all&gt;* was created"
        );
        let d = parsed(Preset::Discord, &ev, None);
        assert_eq!(d["allowed_mentions"], json!({"parse": []}));
        assert!(d["content"].as_str().unwrap().contains("\\<!channel\\>"));
        let g = parsed(Preset::GoogleChat, &ev, None);
        assert!(!g["text"].as_str().unwrap().contains("<users/all>"));
        let widgets = &g["cardsV2"][0]["card"]["sections"][0]["widgets"];
        assert_eq!(
            widgets[0]["decoratedText"]["text"],
            "&lt;!channel&gt; &amp; @everyone *x* &lt;users/all&gt;"
        );
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abcdef", 3), "ab…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("ééé", 2), "é…");
        assert_eq!(clip_escaped("a&amp;b", 4), "a…");
        assert_eq!(clip_escaped("a&amp;bcdef", 7), "a&amp;…");
        assert_eq!(clip_escaped("short", 10), "short");
    }

    #[test]
    fn enrichment_failures_are_said() {
        let ev = json!({"type": "com.bigcommerce.quote.created", "bcscope": "store/quote/created",
            "data": {"quote_id": 1234, "quote_uuid": "x", "enrichment": "failed", "enrichment_error": "HTTP 503"}});
        let t = parsed(Preset::Teams, &ev, None);
        let facts = &t["attachments"][0]["content"]["body"][2]["facts"];
        assert!(facts
            .as_array()
            .unwrap()
            .contains(&json!({"title": "Details", "value": "unavailable (HTTP 503)"})));
    }

    #[test]
    fn test_events_say_so() {
        let mut ev = company(json!(1));
        ev["bctest"] = json!(true);
        let g = parsed(Preset::GoogleChat, &ev, None);
        assert_eq!(
            g["cardsV2"][0]["card"]["header"]["title"],
            "New company (test event)"
        );
    }
}
