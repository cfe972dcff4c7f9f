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
    let m = message(event, public_url);
    let mut o = Out(Vec::with_capacity(1024));
    match preset {
        Preset::Slack => slack(&m, &mut o),
        Preset::Teams => teams(&m, &mut o),
        Preset::Discord => discord(&m, &mut o),
        Preset::GoogleChat => google_chat(&m, &mut o),
    }
    // Only UTF-8 went in: fixed ASCII and escaped UTF-8 strings.
    String::from_utf8(o.0).unwrap_or_default()
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

/// A decimal amount rounded (half up) or padded to `places` decimals, done on the digits
/// so that no float parsing or formatting is linked; any other text is shown as it is.
fn amount(t: &str, places: usize) -> String {
    let (sign, body) = match t.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) {
        return t.to_owned();
    }
    let mut d: Vec<u8> = int
        .bytes()
        .chain(frac.bytes().chain([b'0'; 6]).take(places))
        .collect();
    if frac.as_bytes().get(places).is_some_and(|&b| b >= b'5') {
        let mut i = d.len();
        loop {
            if i == 0 {
                d.insert(0, b'1');
                break;
            }
            i -= 1;
            if d[i] == b'9' {
                d[i] = b'0';
            } else {
                d[i] += 1;
                break;
            }
        }
    }
    if places > 0 {
        d.insert(d.len() - places, b'.');
    }
    let mut out = String::from(sign);
    out.extend(d.into_iter().map(char::from));
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
}

use Get::*;

const COMPANY_FACTS: &[(&str, Get)] = &[
    ("Company", Res("companyName")),
    ("Company ID", Id("company_id")),
    ("Status", CompanyStatus),
    ("Email", Res("companyEmail")),
    // Only assignment events have one.
    ("Super admin ID", Id("user_id")),
];
const USER_FACTS: &[(&str, Get)] = &[
    ("User", Person),
    ("Email", Res("email")),
    ("Role", Role),
    ("User ID", Id("user_id")),
    ("Company ID", Id("company_id")),
];
const ADDRESS_FACTS: &[(&str, Get)] = &[
    ("Address", Address),
    ("Label", Res("label")),
    ("Address ID", Id("address_id")),
    ("Company ID", Id("company_id")),
];
const ADMIN_FACTS: &[(&str, Get)] = &[
    ("Super admin", Person),
    ("Email", Res("email")),
    ("Super admin ID", Id("user_id")),
];
const QUOTE_FACTS: &[(&str, Get)] = &[
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
        };
        // Composite values are clipped like single ones.
        v.map(|v| clip(v, VALUE_CHARS))
    }

    /// `get`, else the id, else "(unknown)": a sentence always names something.
    fn name(&self, g: Get, id: &'static str) -> Option<String> {
        self.get(g)
            .or_else(|| self.get(Id(id)))
            .or_else(|| Some("(unknown)".into()))
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

const GREEN: u32 = 0x2e_b6_7d;
const BLUE: u32 = 0x1d_9b_d1;
const RED: u32 = 0xe0_1e_5a;
const AMBER: u32 = 0xec_b2_2e;
const PURPLE: u32 = 0x8e_44_ad;
const GREY: u32 = 0x95_a5_a6;

/// The words per event type: headline, sentence, the sentence used when a slot it names has
/// no value, colour. Slots: see `Message::sentence`.
type Phrase = (&'static str, &'static str, &'static str, u32);

fn phrase(kind: Option<(Resource, Action)>, pending: bool) -> Phrase {
    use Action::*;
    use Resource::*;
    match kind {
        Some((Company, Created)) if pending => (
            "New company awaiting approval",
            "\x01 applied for a company account and is awaiting approval",
            "",
            GREEN,
        ),
        Some((Company, Created)) => ("New company", "Company \x01 was created", "", GREEN),
        Some((Company, Updated)) => ("Company updated", "Company \x01 was updated", "", BLUE),
        Some((Company, Deleted)) => ("Company deleted", "Company \x01 was deleted", "", RED),
        Some((Company, StatusUpdated)) => (
            "Company status changed",
            "Company \x01 \x04",
            "The status of company \x01 changed",
            AMBER,
        ),
        Some((Company, AssignmentUpdated)) => (
            "Company super admins changed",
            "The super admins (sales staff) assigned to company \x01 changed",
            "",
            PURPLE,
        ),
        Some((CompanyUser, Created)) => (
            "New company user",
            "\x01 was added to company \x02",
            "",
            GREEN,
        ),
        Some((CompanyUser, Deleted)) => (
            "Company user deleted",
            "User \x01 was removed from company \x02",
            "",
            RED,
        ),
        Some((CompanyUser, _)) => (
            "Company user updated",
            "User \x01 of company \x02 was updated",
            "",
            BLUE,
        ),
        Some((CompanyAddress, Created)) => (
            "New company address",
            "New address for company \x02: \x01",
            "",
            GREEN,
        ),
        Some((CompanyAddress, Deleted)) => (
            "Company address deleted",
            "Address \x01 of company \x02 was deleted",
            "",
            RED,
        ),
        Some((CompanyAddress, _)) => (
            "Company address updated",
            "Address \x01 of company \x02 was updated",
            "",
            BLUE,
        ),
        Some((SuperAdmin, Created)) => (
            "New super admin",
            "New super admin (sales staff) \x01",
            "",
            GREEN,
        ),
        Some((SuperAdmin, Deleted)) => (
            "Super admin deleted",
            "Super admin \x01 was deleted",
            "",
            RED,
        ),
        Some((SuperAdmin, AssignmentUpdated)) => (
            "Super admin assignments changed",
            "The companies assigned to super admin \x01 changed",
            "",
            PURPLE,
        ),
        Some((SuperAdmin, _)) => (
            "Super admin updated",
            "Super admin \x01 was updated",
            "",
            BLUE,
        ),
        Some((Quote, Created)) => (
            "New quote",
            "New quote \x01 from \x02",
            "New quote \x01",
            GREEN,
        ),
        Some((Quote, StatusUpdated)) => (
            "Quote status changed",
            "Quote \x01 is now \x03",
            "The status of quote \x01 changed",
            AMBER,
        ),
        Some((Quote, Deleted)) => ("Quote deleted", "Quote \x01 was deleted", "", RED),
        Some((Quote, _)) => ("Quote updated", "Quote \x01 was updated", "", BLUE),
        None => (
            "BigCommerce event",
            "BigCommerce event \x01 about \x02",
            "BigCommerce event \x01",
            GREY,
        ),
    }
}

fn message<'a>(event: &'a Value, public_url: Option<&str>) -> Message<'a> {
    use Resource::*;
    let data = event.get("data");
    let e = Event {
        ev: event,
        data,
        res: field(data, "resource").filter(|r| r.is_object()),
    };
    let kind = kind(event);
    let status = code(field(e.res, "companyStatus"));
    let (facts, slots): (&[(&str, Get)], _) = match kind {
        Some((Company, _)) => (
            COMPANY_FACTS,
            [
                e.name(Res("companyName"), "company_id"),
                None,
                company_status(status).map(|s| s.1.to_owned()),
            ],
        ),
        Some((CompanyUser, _)) => (
            USER_FACTS,
            [
                e.name(Person, "user_id"),
                e.name(Id("company_id"), ""),
                None,
            ],
        ),
        Some((CompanyAddress, _)) => (
            ADDRESS_FACTS,
            [
                e.name(Address, "address_id"),
                e.name(Id("company_id"), ""),
                None,
            ],
        ),
        Some((SuperAdmin, _)) => (ADMIN_FACTS, [e.name(Person, "user_id"), None, None]),
        Some((Quote, _)) => (
            QUOTE_FACTS,
            [
                e.name(Res("quoteNumber"), "quote_id"),
                e.get(BuyerCompany),
                e.get(QuoteStatus),
            ],
        ),
        None => (
            &[("Subject", Subject)],
            [
                text(event.get("type")).or_else(|| Some("(unknown)".into())),
                e.get(Subject),
                None,
            ],
        ),
    };
    let (headline, mut sentence, alt, color) = phrase(kind, status == Some(0));
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
    if event.get("bctest") == Some(&Value::Bool(true)) {
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

/// JSON text being written.
struct Out(Vec<u8>);

impl Out {
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    /// `s` escaped for the inside of a JSON string.
    fn text(&mut self, s: &str) {
        escape_into(&mut self.0, s.as_bytes());
    }

    /// `s` as a JSON string.
    fn str(&mut self, s: &str) {
        self.0.push(b'"');
        self.text(s);
        self.0.push(b'"');
    }

    /// Each fact as `open label mid value close`, comma-separated, the value escaped by
    /// `esc` (labels are fixed words that need no escaping).
    fn facts(&mut self, m: &Message, open: &str, mid: &str, close: &str, esc: Esc) {
        for (i, (label, v)) in m.facts.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.raw(open);
            self.raw(label);
            self.raw(mid);
            self.text(&escape(v, esc));
            self.raw(close);
        }
    }
}

/// Slack: section text ≤ 3000 chars, header ≤ 150, ≤ 10 fields (at most 9 facts) of ≤ 2000,
/// button text ≤ 75, URLs ≤ 3000.
fn slack(m: &Message, o: &mut Out) {
    let summary = m.sentence(Esc::Entities, "*");
    o.raw(r#"{"text":"#);
    o.str(&summary);
    o.raw(r#","blocks":[{"type":"header","text":{"type":"plain_text","emoji":true,"text":"#);
    o.str(&m.headline);
    o.raw(r#"}},{"type":"section","text":{"type":"mrkdwn","text":"#);
    o.str(&summary);
    o.raw("}}");
    if !m.facts.is_empty() {
        o.raw(r#",{"type":"section","fields":["#);
        o.facts(
            m,
            r#"{"type":"mrkdwn","text":"*"#,
            r#"*\n"#,
            r#""}"#,
            Esc::Entities,
        );
        o.raw("]}");
    }
    o.raw(r#",{"type":"context","elements":[{"type":"mrkdwn","text":"#);
    o.str(&escape(&m.footer_line(), Esc::Entities));
    o.raw("}]}");
    if let Some(link) = &m.link {
        o.raw(r#",{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"Open in console"},"url":"#);
        o.str(link);
        o.raw("}]}");
    }
    o.raw("]}");
}

/// Teams: an Adaptive Card 1.4 in a `message`, as Workflows' "post to a channel when a webhook
/// request is received" expects.
fn teams(m: &Message, o: &mut Out) {
    o.raw(r#"{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","weight":"Bolder","size":"Medium","wrap":true,"text":"#);
    o.str(&m.headline);
    o.raw(r#"},{"type":"TextBlock","wrap":true,"text":"#);
    o.str(&m.sentence(Esc::Plain, "**"));
    o.raw("}");
    if !m.facts.is_empty() {
        o.raw(r#",{"type":"FactSet","facts":["#);
        o.facts(m, r#"{"title":""#, r#"","value":""#, r#""}"#, Esc::Plain);
        o.raw("]}");
    }
    o.raw(r#",{"type":"TextBlock","size":"Small","isSubtle":true,"wrap":true,"text":"#);
    o.str(&m.footer_line());
    o.raw("}]");
    if let Some(link) = &m.link {
        o.raw(r#","actions":[{"type":"Action.OpenUrl","title":"Open in console","url":"#);
        o.str(link);
        o.raw("}]");
    }
    o.raw("}}]}");
}

/// Discord: content ≤ 2000 chars; embed title ≤ 256, ≤ 25 fields (name ≤ 256, value ≤ 1024),
/// footer ≤ 2048, all of an embed's text ≤ 6000; `allowed_mentions` empty, so no text pings.
fn discord(m: &Message, o: &mut Out) {
    o.raw(r#"{"allowed_mentions":{"parse":[]},"content":"#);
    o.str(&m.sentence(Esc::Discord, "**"));
    o.raw(r#","embeds":[{"title":"#);
    o.str(&m.headline);
    if let Some(link) = &m.link {
        o.raw(r#","url":"#);
        o.str(link);
    }
    o.raw(r#","color":"#);
    o.raw(&m.color.to_string());
    o.raw(r#","fields":["#);
    o.facts(
        m,
        r#"{"inline":true,"name":""#,
        r#"","value":""#,
        r#""}"#,
        Esc::Discord,
    );
    o.raw(r#"],"footer":{"text":"#);
    o.str(&m.footer);
    o.raw("}");
    if let Some(t) = m.time {
        o.raw(r#","timestamp":"#);
        o.str(t);
    }
    o.raw("}]}");
}

/// Google Chat: `text` ≤ 4096 chars, plus one `cardsV2` card (header ≤ 200 chars, decorated
/// texts, a button to the console).
fn google_chat(m: &Message, o: &mut Out) {
    o.raw(r#"{"text":"#);
    o.str(&m.sentence(Esc::ChatText, "*"));
    o.raw(r#","cardsV2":[{"cardId":"b2b-relay-event","card":{"header":{"title":"#);
    o.str(&m.headline);
    o.raw(r#","subtitle":"#);
    o.str(&m.footer_line());
    o.raw("}");
    if !m.facts.is_empty() || m.link.is_some() {
        o.raw(r#","sections":[{"widgets":["#);
        o.facts(
            m,
            r#"{"decoratedText":{"topLabel":""#,
            r#"","text":""#,
            r#""}}"#,
            Esc::Entities,
        );
        if let Some(link) = &m.link {
            if !m.facts.is_empty() {
                o.raw(",");
            }
            o.raw(r#"{"buttonList":{"buttons":[{"text":"Open in console","onClick":{"openLink":{"url":"#);
            o.str(link);
            o.raw("}}}]}}");
        }
        o.raw("]}]");
    }
    o.raw("}}]}");
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
        assert_eq!(amount("-0.125", 2), "-0.13");
        assert_eq!(amount("9.995", 2), "10.00");
        assert_eq!(amount("99.5", 0), "100");
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
