//! Chat presets (`format = "slack" | "teams" | "discord" | "google-chat"`): a readable message
//! per B2B event instead of the CloudEvent, in the body each chat's incoming webhook takes.
//!
//! The words come from the event type, and the names from `data.resource` when the target is
//! enriched (company name, buyer, address, quote number…), ids otherwise. Every value from
//! the event is clipped and escaped for the chat's markup, so a company called `<!channel>` or
//! `@everyone` pings no one, and every message stays inside the vendor's documented limits.
//!
//! One neutral message (headline, sentence, facts, link, footer, colour) is made from a table
//! per event type, then written by four small writers straight into JSON text: a derived
//! serializer per vendor struct cost more wasm than all of the words.

use crate::core::catalog::{self, Action, Resource};
use crate::core::deliver::template::escape_into;
use serde_json::Value;

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

/// Characters kept of any one value from the event (a name, an email, an address). With at
/// most two values in a sentence and nine facts, escaping (at most 5 characters for one)
/// keeps every text inside each vendor's limits, so no escaped text needs clipping again.
const VALUE_CHARS: usize = 200;
/// The store hash in the footer: short, so Google Chat's 200-character subtitle holds it.
const STORE_CHARS: usize = 100;
/// A console link longer than this is left out rather than sent broken or refused.
const MAX_LINK: usize = 2000;

/// The message, before a chat's markup.
struct Message<'a> {
    headline: String,
    /// Fixed words with slots: `\x01`..`\x03` a value in bold, `\x04` the third value as
    /// plain words (a status phrase).
    sentence: &'static str,
    slots: [Option<String>; 3],
    facts: Vec<(&'static str, String)>,
    link: Option<String>,
    /// `b2b-relay · store …`; the line under a message adds the time.
    footer: String,
    /// RFC 3339, only when the event's time is one.
    time: Option<&'a str>,
    color: u32,
}

/// The message body for `event` (the structured CloudEvent as a JSON object, enriched or not)
/// in `preset`'s format. `public_url` is the relay's public base URL: with it, the message
/// links to the event's page in the console. Always valid JSON.
pub fn render(preset: Preset, event: &Value, public_url: Option<&str>) -> String {
    let layout = match preset {
        Preset::Slack => &SLACK,
        Preset::Teams => &TEAMS,
        Preset::Discord => &DISCORD,
        Preset::GoogleChat => &GOOGLE_CHAT,
    };
    write(&message(event, public_url), layout)
}

/// `s` cut to `max` characters, the last one an ellipsis when anything was cut.
fn clip(mut s: String, max: usize) -> String {
    let mut chars = s.char_indices();
    if let Some((cut, _)) = chars.nth(max - 1) {
        if chars.next().is_some() {
            s.truncate(cut);
            s.push('…');
        }
    }
    s
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
            (!line.is_empty()).then(|| clip(line.to_owned(), VALUE_CHARS))
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

/// A company status: its name for the facts and its phrase for the sentence.
fn company_status(code: Option<u64>) -> Option<(&'static str, &'static str)> {
    Some(match code? {
        0 => ("Pending approval", "is awaiting approval"),
        1 => ("Approved", "is now approved"),
        2 => ("Rejected", "was rejected"),
        3 => ("Inactive", "is now inactive"),
        _ => return None,
    })
}

fn quote_status(code: Option<u64>) -> Option<&'static str> {
    Some(match code? {
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

/// A decimal amount padded to `places` decimals (`1495` → `1495.00`); one with more
/// decimals, or any other text, is shown as it is: no float parsing or formatting is linked,
/// and no amount is rounded into one the quote does not hold.
fn amount(t: &str, places: usize) -> String {
    let body = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mut out = t.to_owned();
    if !int.is_empty() && digits(int) && digits(frac) && frac.len() < places {
        if frac.is_empty() {
            out.push('.');
        }
        out.extend(std::iter::repeat_n('0', places - frac.len()));
    }
    out
}

/// What a fact or a sentence shows, read from the event.
#[derive(Clone, Copy)]
enum Get {
    /// A field of `data.resource`.
    Res(&'static str),
    /// An id in `data`, as `#1234`.
    Id(&'static str),
    /// "First Last" from `data.resource`, else its email.
    Person,
    /// The company role's name, else the built-in role's.
    Role,
    /// The address on one line.
    Address,
    CompanyStatus,
    QuoteStatus,
    /// The buyer's company on a quote.
    BuyerCompany,
    /// "Name (email)" of the quote's contact.
    Buyer,
    /// The quote's total with its currency.
    Total,
    Subject,
    /// The event's type.
    Type,
    /// The company status as a phrase ("is now approved").
    CompanyPhrase,
    /// The first of these that has a value.
    Or(&'static [Get]),
    Unknown,
}

use Get::*;

const COMPANY_FACTS: Facts = &[
    ("Company", Res("companyName")),
    ("Company ID", Id("company_id")),
    ("Status", CompanyStatus),
    ("Email", Res("companyEmail")),
    // Only assignment events have one.
    ("Super admin ID", Id("user_id")),
];
const USER_FACTS: Facts = &[
    ("User", Person),
    ("Email", Res("email")),
    ("Role", Role),
    ("User ID", Id("user_id")),
    ("Company ID", Id("company_id")),
];
const ADDRESS_FACTS: Facts = &[
    ("Address", Address),
    ("Label", Res("label")),
    ("Address ID", Id("address_id")),
    ("Company ID", Id("company_id")),
];
const ADMIN_FACTS: Facts = &[
    ("Super admin", Person),
    ("Email", Res("email")),
    ("Super admin ID", Id("user_id")),
];
const QUOTE_FACTS: Facts = &[
    ("Quote", Res("quoteNumber")),
    ("Title", Res("quoteTitle")),
    ("Status", QuoteStatus),
    ("Company", BuyerCompany),
    ("Buyer", Buyer),
    ("Total", Total),
    ("Quote ID", Id("quote_id")),
];

struct Event<'a> {
    ev: &'a Value,
    data: Option<&'a Value>,
    res: Option<&'a Value>,
}

impl Event<'_> {
    fn res(&self, k: &str) -> Option<String> {
        text(field(self.res, k))
    }

    /// The fields of `data.resource` that have text, joined by `sep`.
    fn joined(&self, keys: &[&str], sep: &str) -> Option<String> {
        let mut out = String::new();
        for v in keys.iter().filter_map(|k| self.res(k)) {
            if !out.is_empty() {
                out.push_str(sep);
            }
            out.push_str(&v);
        }
        (!out.is_empty()).then_some(out)
    }

    fn get(&self, g: Get) -> Option<String> {
        let res = self.res;
        let v = match g {
            Res(k) => self.res(k),
            Id(k) => text(field(self.data, k)).map(|i| format!("#{i}")),
            Person => self
                .joined(&["firstName", "lastName"], " ")
                .or_else(|| self.res("email")),
            Role => self.res("companyRoleName").or_else(|| {
                let r = ["Admin", "Senior buyer", "Junior buyer"];
                let i = usize::try_from(code(field(res, "role"))?).ok()?;
                r.get(i).map(|r| (*r).to_owned())
            }),
            Address => self.joined(
                &[
                    "addressLine1",
                    "addressLine2",
                    "city",
                    "stateName",
                    "zipCode",
                    "countryName",
                ],
                ", ",
            ),
            CompanyStatus => company_status(code(field(res, "companyStatus"))).map(|s| s.0.into()),
            QuoteStatus => quote_status(code(field(res, "status"))).map(str::to_owned),
            BuyerCompany => text(field(field(res, "contactInfo"), "companyName")),
            Buyer => {
                let c = field(res, "contactInfo");
                match (text(field(c, "name")), text(field(c, "email"))) {
                    (Some(n), Some(e)) => Some(format!("{n} ({e})")),
                    (n, e) => n.or(e),
                }
            }
            Total => {
                let total = field(res, "grandTotal").or_else(|| field(res, "totalAmount"));
                let currency = field(res, "currency");
                let places = code(field(currency, "decimalPlaces")).map_or(2, |p| p.min(6));
                let amount = amount(&text(total)?, places as usize);
                Some(match text(field(currency, "currencyCode")) {
                    Some(c) => format!("{amount} {c}"),
                    None => amount,
                })
            }
            Subject => text(self.ev.get("subject")),
            Type => text(self.ev.get("type")),
            CompanyPhrase => company_status(code(field(res, "companyStatus"))).map(|s| s.1.into()),
            Or(gs) => gs.iter().find_map(|&g| self.get(g)),
            Unknown => Some("(unknown)".into()),
        };
        // Composite values are clipped like single ones.
        v.map(|v| clip(v, VALUE_CHARS))
    }
}

fn percent_encode_id(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// `public_url` is `PUBLIC_URL`, which configuration already checked as the worker's https
/// origin; only the event's id needs care.
fn console_link(event: &Value, public_url: Option<&str>) -> Option<String> {
    let base = public_url?.trim_end_matches('/');
    let host = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))?;
    let id = event.get("id")?.as_str().filter(|s| !s.is_empty())?;
    let link = format!("{base}/console/#/events/{}", percent_encode_id(id));
    (!host.is_empty() && link.len() <= MAX_LINK).then_some(link)
}

/// The catalog entry of an event, from `bcscope` (every normalized event has one).
fn kind(event: &Value) -> Option<(Resource, Action)> {
    catalog::lookup(event.get("bcscope")?.as_str()?)
}

const GREEN: u32 = 0x2e_b6_7d;
const BLUE: u32 = 0x1d_9b_d1;
const RED: u32 = 0xe0_1e_5a;
const AMBER: u32 = 0xec_b2_2e;
const PURPLE: u32 = 0x8e_44_ad;
const GREY: u32 = 0x95_a5_a6;

/// The words per event type: headline, sentence, the sentence used when a slot it names has
/// no value, colour. Slots: see `Message::sentence`. A table, not a `match` returning
/// tuples: data costs less wasm than code.
type Phrase = (&'static str, &'static str, &'static str, u32);

const PHRASES: [Phrase; 21] = [
    (
        "New company awaiting approval",
        "\x01 applied for a company account and is awaiting approval",
        "",
        GREEN,
    ),
    ("New company", "Company \x01 was created", "", GREEN),
    ("Company updated", "Company \x01 was updated", "", BLUE),
    ("Company deleted", "Company \x01 was deleted", "", RED),
    (
        "Company status changed",
        "Company \x01 \x04",
        "The status of company \x01 changed",
        AMBER,
    ),
    (
        "Company super admins changed",
        "The super admins (sales staff) assigned to company \x01 changed",
        "",
        PURPLE,
    ),
    (
        "New company user",
        "\x01 was added to company \x02",
        "",
        GREEN,
    ),
    (
        "Company user deleted",
        "User \x01 was removed from company \x02",
        "",
        RED,
    ),
    (
        "Company user updated",
        "User \x01 of company \x02 was updated",
        "",
        BLUE,
    ),
    (
        "New company address",
        "New address for company \x02: \x01",
        "",
        GREEN,
    ),
    (
        "Company address deleted",
        "Address \x01 of company \x02 was deleted",
        "",
        RED,
    ),
    (
        "Company address updated",
        "Address \x01 of company \x02 was updated",
        "",
        BLUE,
    ),
    (
        "New super admin",
        "New super admin (sales staff) \x01",
        "",
        GREEN,
    ),
    (
        "Super admin deleted",
        "Super admin \x01 was deleted",
        "",
        RED,
    ),
    (
        "Super admin assignments changed",
        "The companies assigned to super admin \x01 changed",
        "",
        PURPLE,
    ),
    (
        "Super admin updated",
        "Super admin \x01 was updated",
        "",
        BLUE,
    ),
    (
        "New quote",
        "New quote \x01 from \x02",
        "New quote \x01",
        GREEN,
    ),
    (
        "Quote status changed",
        "Quote \x01 is now \x03",
        "The status of quote \x01 changed",
        AMBER,
    ),
    ("Quote deleted", "Quote \x01 was deleted", "", RED),
    ("Quote updated", "Quote \x01 was updated", "", BLUE),
    (
        "BigCommerce event",
        "BigCommerce event \x01 about \x02",
        "BigCommerce event \x01",
        GREY,
    ),
];

/// The row of `PHRASES` per resource (catalog order) and action (created, updated, deleted,
/// status updated, assignment updated); a company created while pending approval is row 0.
const ROWS: [[u8; 5]; 5] = [
    [1, 2, 3, 4, 5],
    [6, 8, 7, 8, 8],
    [9, 11, 10, 11, 11],
    [12, 15, 13, 15, 14],
    [16, 19, 18, 17, 19],
];

fn phrase(kind: Option<(Resource, Action)>, pending: bool) -> Phrase {
    let row = match kind {
        Some((Resource::Company, Action::Created)) if pending => 0,
        Some((r, a)) => usize::from(ROWS[r as usize][a as usize]),
        None => PHRASES.len() - 1,
    };
    PHRASES[row]
}

/// Per resource (catalog order, then unknown events): the facts, and the sentence's slots.
/// Labelled getters: the facts of a message.
type Facts = &'static [(&'static str, Get)];

const KINDS: [(Facts, [Get; 3]); 6] = [
    (
        COMPANY_FACTS,
        [
            Or(&[Res("companyName"), Id("company_id"), Unknown]),
            Or(&[]),
            CompanyPhrase,
        ],
    ),
    (
        USER_FACTS,
        [
            Or(&[Person, Id("user_id"), Unknown]),
            Or(&[Id("company_id"), Unknown]),
            Or(&[]),
        ],
    ),
    (
        ADDRESS_FACTS,
        [
            Or(&[Address, Id("address_id"), Unknown]),
            Or(&[Id("company_id"), Unknown]),
            Or(&[]),
        ],
    ),
    (
        ADMIN_FACTS,
        [Or(&[Person, Id("user_id"), Unknown]), Or(&[]), Or(&[])],
    ),
    (
        QUOTE_FACTS,
        [
            Or(&[Res("quoteNumber"), Id("quote_id"), Unknown]),
            BuyerCompany,
            QuoteStatus,
        ],
    ),
    (
        &[("Subject", Subject)],
        [Or(&[Type, Unknown]), Subject, Or(&[])],
    ),
];

fn message<'a>(event: &'a Value, public_url: Option<&str>) -> Message<'a> {
    let data = event.get("data");
    let e = Event {
        ev: event,
        data,
        res: field(data, "resource").filter(|r| r.is_object()),
    };
    let kind = kind(event);
    let (facts, slots) = KINDS[kind.map_or(KINDS.len() - 1, |(r, _)| r as usize)];
    let slots = slots.map(|g| e.get(g));
    let pending = code(field(e.res, "companyStatus")) == Some(0);
    let (headline, mut sentence, alt, color) = phrase(kind, pending);
    // A slot without a value takes the other wording.
    if sentence
        .bytes()
        .any(|b| matches!(b, 1..=4) && slots[usize::from(b.min(3) - 1)].is_none())
    {
        sentence = alt;
    }
    let mut facts: Vec<(&'static str, String)> = facts
        .iter()
        .filter_map(|&(label, g)| Some((label, e.get(g)?)))
        .collect();
    if field(data, "enrichment").and_then(Value::as_str) == Some("failed") {
        let why = text(field(data, "enrichment_error")).unwrap_or_else(|| "unknown error".into());
        facts.push(("Details", format!("unavailable ({why})")));
    }
    let store = text(event.get("storehash")).map(|s| clip(s, STORE_CHARS));
    let footer = match &store {
        Some(s) => format!("b2b-relay · store {s}"),
        None => "b2b-relay".to_owned(),
    };
    if let Some(s) = store {
        facts.push(("Store", s));
    }
    let mut headline = headline.to_owned();
    if event.get("bctest").and_then(Value::as_bool) == Some(true) {
        headline.push_str(" (test event)");
    }
    Message {
        headline,
        sentence,
        slots,
        facts,
        link: console_link(event, public_url),
        footer,
        time: event
            .get("time")
            .and_then(Value::as_str)
            .filter(|t| crate::core::time::parse_rfc3339(t).is_some()),
        color,
    }
}

/// How a chat's markup wants text from the event escaped.
#[derive(Clone, Copy, PartialEq)]
enum Esc {
    Plain,
    /// `&`, `<` and `>` as entities: Slack mrkdwn (links, mentions) and the HTML subset of
    /// Google Chat's card widgets.
    Entities,
    /// Discord markdown: a backslash before punctuation shows it as itself. Values are one
    /// line inside `**…**`, so only inline markup (and `<@…>` mentions) needs escaping.
    Discord,
    /// Google Chat text: `<users/all>` would mention everyone, so a `<` is followed by a
    /// zero-width space.
    ChatText,
}

fn escape(s: &str, esc: Esc) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match (esc, c) {
            (Esc::Entities, '&') => out.push_str("&amp;"),
            (Esc::Entities, '<') => out.push_str("&lt;"),
            (Esc::Entities, '>') => out.push_str("&gt;"),
            (Esc::Discord, c) if c.is_ascii() && b"\\*_~`|<>[]()".contains(&(c as u8)) => {
                out.push('\\');
                out.push(c);
            }
            (Esc::ChatText, '<') => out.push_str("<\u{200b}"),
            (_, c) => out.push(c),
        }
    }
    out
}

impl Message<'_> {
    /// The sentence with each value escaped by `esc` and wrapped in `strong`.
    fn sentence(&self, esc: Esc, strong: &str) -> String {
        let mut out = String::new();
        for c in self.sentence.chars() {
            match c {
                '\x01'..='\x04' => {
                    let i = (c as usize).min(3) - 1;
                    let v = escape(self.slots[i].as_deref().unwrap_or(""), esc);
                    if c == '\x04' {
                        out.push_str(&v);
                    } else {
                        out.push_str(strong);
                        out.push_str(&v);
                        out.push_str(strong);
                    }
                }
                c => out.push(c),
            }
        }
        out
    }

    /// `footer · time`, the line under each message.
    fn footer_line(&self) -> String {
        match self.time {
            Some(t) => format!("{} · {t}", self.footer),
            None => self.footer.clone(),
        }
    }
}

/// A chat's body: its JSON with marks where the message goes, and how text is escaped.
/// Marks (bytes that never occur in the JSON itself): `\x01` headline, `\x02` sentence,
/// `\x03` footer line (with the time), `\x04` footer, `\x05` the facts, `\x06` the link,
/// `\x07` the colour, `\x08` the time, all as JSON strings but the colour. Sections kept only
/// when there is a link (`\x0e`…`\x0f`), a time (`\x10`…`\x11`), facts (`\x12`…`\x13`), facts
/// or a link (`\x14`…`\x15`); `\x16` is a comma when there are facts.
struct Layout {
    json: &'static str,
    /// Escaping of the sentence's values, and the markup around each.
    esc: Esc,
    strong: &'static str,
    /// Each fact as `open label mid value close`.
    fact: [&'static str; 3],
    fact_esc: Esc,
    footer_esc: Esc,
}

/// Slack incoming webhook, Block Kit: section text ≤ 3000 chars, header ≤ 150, ≤ 10 fields
/// (at most 9 facts) of ≤ 2000, button text ≤ 75, URLs ≤ 3000.
const SLACK: Layout = Layout {
    json: concat!(
        r#"{"text":"#,
        "\x02",
        r#","blocks":[{"type":"header","text":{"type":"plain_text","emoji":true,"text":"#,
        "\x01",
        r#"}},{"type":"section","text":{"type":"mrkdwn","text":"#,
        "\x02}}\x12",
        r#",{"type":"section","fields":["#,
        "\x05]}\x13",
        r#",{"type":"context","elements":[{"type":"mrkdwn","text":"#,
        "\x03}]}\x0e",
        r#",{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"Open in console"},"url":"#,
        "\x06}]}\x0f]}",
    ),
    esc: Esc::Entities,
    strong: "*",
    fact: [r#"{"type":"mrkdwn","text":"*"#, r#"*\n"#, r#""}"#],
    fact_esc: Esc::Entities,
    footer_esc: Esc::Entities,
};

/// Teams: an Adaptive Card 1.4 in a `message`, as Workflows' "post to a channel when a webhook
/// request is received" expects.
const TEAMS: Layout = Layout {
    json: concat!(
        r#"{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","weight":"Bolder","size":"Medium","wrap":true,"text":"#,
        "\x01",
        r#"},{"type":"TextBlock","wrap":true,"text":"#,
        "\x02}\x12",
        r#",{"type":"FactSet","facts":["#,
        "\x05]}\x13",
        r#",{"type":"TextBlock","size":"Small","isSubtle":true,"wrap":true,"text":"#,
        "\x03}]\x0e",
        r#","actions":[{"type":"Action.OpenUrl","title":"Open in console","url":"#,
        "\x06}]\x0f}}]}",
    ),
    esc: Esc::Plain,
    strong: "**",
    fact: [r#"{"title":""#, r#"","value":""#, r#""}"#],
    fact_esc: Esc::Plain,
    footer_esc: Esc::Plain,
};

/// Discord: content ≤ 2000 chars; embed title ≤ 256, ≤ 25 fields (name ≤ 256, value ≤ 1024),
/// footer ≤ 2048, all of an embed's text ≤ 6000; `allowed_mentions` empty, so no text pings.
const DISCORD: Layout = Layout {
    json: concat!(
        r#"{"allowed_mentions":{"parse":[]},"content":"#,
        "\x02",
        r#","embeds":[{"title":"#,
        "\x01\x0e",
        r#","url":"#,
        "\x06\x0f",
        r#","color":"#,
        "\x07",
        r#","fields":["#,
        "\x05",
        r#"],"footer":{"text":"#,
        "\x04}\x10",
        r#","timestamp":"#,
        "\x08\x11}]}",
    ),
    esc: Esc::Discord,
    strong: "**",
    fact: [r#"{"inline":true,"name":""#, r#"","value":""#, r#""}"#],
    fact_esc: Esc::Discord,
    footer_esc: Esc::Plain,
};

/// Google Chat: `text` ≤ 4096 chars, plus one `cardsV2` card (header ≤ 200 chars, decorated
/// texts, a button to the console).
const GOOGLE_CHAT: Layout = Layout {
    json: concat!(
        r#"{"text":"#,
        "\x02",
        r#","cardsV2":[{"cardId":"b2b-relay-event","card":{"header":{"title":"#,
        "\x01",
        r#","subtitle":"#,
        "\x03}\x14",
        r#","sections":[{"widgets":["#,
        "\x05\x0e\x16",
        r#"{"buttonList":{"buttons":[{"text":"Open in console","onClick":{"openLink":{"url":"#,
        "\x06}}}]}}\x0f]}]\x15}}]}",
    ),
    esc: Esc::ChatText,
    strong: "*",
    fact: [
        r#"{"decoratedText":{"topLabel":""#,
        r#"","text":""#,
        r#""}}"#,
    ],
    fact_esc: Esc::Entities,
    footer_esc: Esc::Plain,
};

/// Appends `s` as a JSON string.
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s.as_bytes());
    out.push(b'"');
}

/// The message in `l`'s JSON. Only UTF-8 goes in: the layout's ASCII and escaped UTF-8.
fn write(m: &Message, l: &Layout) -> String {
    let sentence = m.sentence(l.esc, l.strong);
    let footer_line = escape(&m.footer_line(), l.footer_esc);
    let mut out = Vec::with_capacity(1024);
    let b = l.json.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        let keep = match c {
            0x0e => m.link.is_some(),
            0x10 => m.time.is_some(),
            0x12 => !m.facts.is_empty(),
            0x14 => !m.facts.is_empty() || m.link.is_some(),
            _ => true,
        };
        if !keep {
            // Sections of one kind never nest: skip to this one's end mark.
            while b.get(i).is_some_and(|&x| x != c + 1) {
                i += 1;
            }
            i += 1;
            continue;
        }
        match c {
            1 => json_str(&mut out, &m.headline),
            2 => json_str(&mut out, &sentence),
            3 => json_str(&mut out, &footer_line),
            4 => json_str(&mut out, &m.footer),
            5 => {
                for (n, (label, v)) in m.facts.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(l.fact[0].as_bytes());
                    out.extend_from_slice(label.as_bytes());
                    out.extend_from_slice(l.fact[1].as_bytes());
                    escape_into(&mut out, escape(v, l.fact_esc).as_bytes());
                    out.extend_from_slice(l.fact[2].as_bytes());
                }
            }
            6 => json_str(&mut out, m.link.as_deref().unwrap_or_default()),
            7 => out.extend_from_slice(m.color.to_string().as_bytes()),
            8 => json_str(&mut out, m.time.unwrap_or_default()),
            0x16 if !m.facts.is_empty() => out.push(b','),
            0x0e..=0x16 => {}
            c => out.push(c),
        }
    }
    String::from_utf8(out).unwrap_or_default()
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
        assert_eq!(clip("abcdef".into(), 3), "ab…");
        assert_eq!(clip("abc".into(), 3), "abc");
        assert_eq!(clip("ééé".into(), 2), "é…");
        assert_eq!(amount("1495", 2), "1495.00");
        assert_eq!(amount("1495.0", 2), "1495.00");
        assert_eq!(amount("-0.5", 2), "-0.50");
        assert_eq!(amount("9.995", 2), "9.995");
        assert_eq!(amount("99", 0), "99");
        assert_eq!(amount("12.3456", 6), "12.345600");
        assert_eq!(amount("1e21", 2), "1e21");
        assert_eq!(amount("12 EUR", 2), "12 EUR");
        assert_eq!(amount(".5", 2), ".5");
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
