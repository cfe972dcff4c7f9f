//! A compact text form for the small states a Durable Object keeps (`lanes::Stored`): whole
//! numbers separated by spaces, `-` for an absent one. serde's derived readers for the lane
//! state cost about 6 KiB of the gzipped upload; these few lines a fraction of that.

use std::fmt::Write;

#[derive(Debug, Default)]
pub struct Writer(String);

impl Writer {
    pub fn int(&mut self, n: i64) {
        // Writing to a String cannot fail.
        let _ = write!(self.0, "{n} ");
    }

    pub fn opt(&mut self, n: Option<i64>) {
        match n {
            Some(n) => self.int(n),
            None => self.0.push_str("- "),
        }
    }

    pub fn finish(mut self) -> String {
        self.0.pop();
        self.0
    }
}

pub struct Reader<'a>(std::str::Split<'a, char>);

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader(text.split(' '))
    }

    pub fn int(&mut self) -> Option<i64> {
        self.0.next()?.parse().ok()
    }

    /// `Some(None)` for `-`; `None` when the text ends or is not a number.
    pub fn opt(&mut self) -> Option<Option<i64>> {
        match self.0.next()? {
            "-" => Some(None),
            t => t.parse().ok().map(Some),
        }
    }

    pub fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.int()?).ok()
    }

    pub fn u64(&mut self) -> Option<u64> {
        u64::try_from(self.int()?).ok()
    }

    /// A count of items that follow, capped so a damaged text cannot ask for a huge buffer.
    pub fn len(&mut self, max: usize) -> Option<usize> {
        usize::try_from(self.int()?).ok().filter(|n| *n <= max)
    }

    pub fn at_end(&mut self) -> bool {
        self.0.next().is_none()
    }
}

/// Unsigned counters are far below `i64::MAX`; saturate rather than wrap if one ever is not.
pub fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_absent_ones_round_trip() {
        let mut w = Writer::default();
        for n in [0, -5, i64::MAX, 1_700_000_000_000] {
            w.int(n);
        }
        w.opt(None);
        w.opt(Some(7));
        let text = w.finish();
        assert_eq!(text, "0 -5 9223372036854775807 1700000000000 - 7");
        let mut r = Reader::new(&text);
        assert_eq!(r.int(), Some(0));
        assert_eq!(r.int(), Some(-5));
        assert_eq!(r.u64(), Some(i64::MAX as u64));
        assert_eq!(r.u32(), None);
        assert_eq!(r.opt(), Some(None));
        assert_eq!(r.opt(), Some(Some(7)));
        assert!(r.at_end());
        assert_eq!(Reader::new("x").int(), None);
        assert_eq!(Reader::new("5000").len(100), None);
        assert_eq!(Writer::default().finish(), "");
    }
}
