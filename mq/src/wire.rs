//! Primitive binary encoding shared by frames and log records: big-endian
//! integers and length-prefixed strings and byte strings. Decoding never
//! panics: every read checks the remaining length and reports `Malformed`.

use bytes::{BufMut, Bytes};

use crate::error::{Error, Result};

/// Appends primitives to a buffer.
pub trait WireWrite: BufMut {
    fn put_str16(&mut self, s: &str) {
        let b = s.as_bytes();
        let n = b.len().min(u16::MAX as usize);
        self.put_u16(n as u16);
        self.put_slice(&b[..n]);
    }

    fn put_bytes32(&mut self, b: &[u8]) {
        self.put_u32(b.len() as u32);
        self.put_slice(b);
    }

    fn put_strings(&mut self, items: &[String]) {
        self.put_u16(items.len().min(u16::MAX as usize) as u16);
        for s in items.iter().take(u16::MAX as usize) {
            self.put_str16(s);
        }
    }
}

impl<B: BufMut + ?Sized> WireWrite for B {}

/// Reads primitives from a byte slice, checking bounds on every step.
pub struct WireReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> WireReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        WireReader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::Malformed(format!(
                "truncated {what}: need {n} bytes, {} left",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1, "u8")?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        let b = self.take(2, "u16")?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4, "u32")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8, "u64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn str16(&mut self) -> Result<String> {
        let n = self.u16()? as usize;
        let b = self.take(n, "string")?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::Malformed("string is not UTF-8".into()))
    }

    pub fn bytes32(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n, "bytes")
    }

    pub fn strings(&mut self) -> Result<Vec<String>> {
        let n = self.u16()? as usize;
        // Each string needs at least its 2-byte length: refuse absurd counts early.
        if n * 2 > self.remaining() {
            return Err(Error::Malformed("string list longer than its frame".into()));
        }
        (0..n).map(|_| self.str16()).collect()
    }

    /// The rest of the input, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails unless all input was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::Malformed(format!(
                "{} unexpected trailing bytes",
                self.remaining()
            )));
        }
        Ok(())
    }
}

/// Copies a slice of a `Bytes` without copying when the slice lies inside it.
pub fn slice_of(whole: &Bytes, part: &[u8]) -> Bytes {
    whole.slice_ref(part)
}
