//! The binary form of compact records: a format byte, then fields in a fixed order. Integers
//! are fixed-width little-endian; byte strings and text carry a LEB128 length. A reader refuses
//! short input, an over-long length, text that is not UTF-8 and trailing bytes, as `Corrupt`.

use crate::StoreError;

/// Writes one record.
pub(super) struct Writer(Vec<u8>);

impl Writer {
    pub(super) fn new(format: u8, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(format);
        Self(out)
    }

    pub(super) fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    pub(super) fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    pub(super) fn i64(&mut self, value: i64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    pub(super) fn fixed(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        let mut len = bytes.len() as u64;
        loop {
            let low = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                self.0.push(low);
                break;
            }
            self.0.push(low | 0x80);
        }
        self.0.extend_from_slice(bytes);
    }

    pub(super) fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads one record of kind `what` (named in errors).
pub(super) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader after the format byte, which must be `format`.
    pub(super) fn new(bytes: &'a [u8], format: u8, what: &'static str) -> Result<Self, StoreError> {
        match bytes.split_first() {
            Some((&found, rest)) if found == format => Ok(Self { rest, what }),
            Some((&found, _)) => Err(StoreError::Corrupt(format!(
                "{what}: format byte {found}, expected {format}"
            ))),
            None => Err(StoreError::Corrupt(format!("{what}: empty"))),
        }
    }

    fn corrupt(&self, why: &str) -> StoreError {
        StoreError::Corrupt(format!("{}: {why}", self.what))
    }

    pub(super) fn fixed(&mut self, len: usize) -> Result<&'a [u8], StoreError> {
        if self.rest.len() < len {
            return Err(self.corrupt("truncated"));
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.fixed(N)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let mut len: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            len |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                let len = usize::try_from(len).map_err(|_| self.corrupt("length too large"))?;
                return self.fixed(len);
            }
        }
        Err(self.corrupt("length too large"))
    }

    pub(super) fn str(&mut self) -> Result<&'a str, StoreError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|_| self.corrupt("text is not UTF-8"))
    }

    /// Ends the record: anything left over is corruption.
    pub(super) fn finish(self) -> Result<(), StoreError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn what_is_written_reads_back(
            a in any::<u8>(), b in any::<u32>(), c in any::<i64>(),
            d in proptest::collection::vec(any::<u8>(), 0..400), e in ".{0,200}",
        ) {
            let mut w = Writer::new(9, 0);
            w.u8(a);
            w.u32(b);
            w.i64(c);
            w.bytes(&d);
            w.str(&e);
            let bytes = w.finish();
            let mut r = Reader::new(&bytes, 9, "test").unwrap();
            prop_assert_eq!(r.u8().unwrap(), a);
            prop_assert_eq!(r.u32().unwrap(), b);
            prop_assert_eq!(r.i64().unwrap(), c);
            prop_assert_eq!(r.bytes().unwrap(), &d[..]);
            prop_assert_eq!(r.str().unwrap(), &e[..]);
            r.finish().unwrap();
        }

        #[test]
        fn any_input_reads_or_is_corrupt(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(mut r) = Reader::new(&bytes, 4, "test") {
                let _ = r.u8().and_then(|_| r.bytes()).and_then(|_| r.str());
                let _ = r.finish();
            }
        }
    }

    #[test]
    fn short_input_and_leftovers_are_corrupt() {
        let mut w = Writer::new(4, 0);
        w.str("name");
        let bytes = w.finish();
        let mut r = Reader::new(&bytes[..3], 4, "test").unwrap();
        assert!(matches!(r.str(), Err(StoreError::Corrupt(_))));
        let r = Reader::new(&bytes, 4, "test").unwrap();
        assert!(matches!(r.finish(), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            Reader::new(&bytes, 3, "test"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            Reader::new(&[], 3, "test"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
