//! A small streaming 128-bit hash (two independent FNV-1a-64 lanes) for the input
//! fingerprint. Not cryptographic: it only tells "these inputs are the same as last time".

/// Streaming hasher; feed with [`Fingerprinter::bytes`] / [`Fingerprinter::u64`].
pub struct Fingerprinter {
    a: u64,
    b: u64,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprinter {
    pub fn new() -> Self {
        Fingerprinter { a: 0xcbf2_9ce4_8422_2325, b: 0x6c62_272e_07bb_0142 }
    }

    /// Feeds bytes followed by their length, so field boundaries are unambiguous.
    pub fn bytes(&mut self, data: &[u8]) {
        for &x in data {
            self.a = (self.a ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
            self.b = (self.b ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
        }
        self.u64_raw(data.len() as u64);
    }

    fn u64_raw(&mut self, v: u64) {
        for x in v.to_le_bytes() {
            self.a = (self.a ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
            self.b = (self.b ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
        }
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.u64_raw(v);
    }

    /// 32 hex digits.
    pub fn finish(&self) -> String {
        format!("{:016x}{:016x}", self.a, self.b)
    }
}
