//! The `.npy` format (numpy's `numpy/lib/format.py`): header parsing, chunked data decoding and
//! the `<f8` writer.
//!
//! A file is the magic `\x93NUMPY`, a major and a minor version byte, the header length
//! (little-endian u16 for version 1.0, u32 for 2.0 and 3.0), the header — a Python dict literal
//! such as `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and
//! ending in `\n` (latin-1 up to 2.0, UTF-8 in 3.0) — and then the raw elements.

use std::io::{self, Read, Write};

use super::{ArrayInfo, FormatError, py_shape};
use crate::array::{Array, Dtype};

pub(super) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Longest header accepted. Plain numeric arrays need well under 1 KiB (numpy's own `np.load`
/// refuses more than 10 000 bytes by default); the cap keeps a corrupt length from costing memory.
const MAX_HEADER_LEN: usize = 1 << 20;

/// Bytes read per step while streaming data: bounds memory whatever the file size. A multiple of
/// every element size, so chunks never split an element.
const CHUNK_BYTES: usize = 1 << 20;

/// What a `.npy` header says, checked: a supported dtype and a shape whose byte size fits.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Header {
    pub dtype: Dtype,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Number of elements (product of the shape).
    pub len: usize,
    /// Bytes of element data that must follow the header.
    pub data_bytes: u64,
}

/// Reads one `.npy` array (header and data) from `r`, which must then be at its end: the data is
/// streamed in chunks, decoded and checked, and kept in row-major order only when `keep`.
pub(super) fn read_array<R: Read>(
    r: &mut R,
    name: &str,
    keep: bool,
) -> Result<(ArrayInfo, Option<Array>), FormatError> {
    let header = read_header(r, name)?;
    let mut data = Vec::new();
    if keep {
        // Reserve at most one chunk up front: the header's promise is not trusted until the
        // bytes have actually arrived.
        data.reserve(header.len.min(CHUNK_BYTES / 8));
    }
    read_data(r, &header, name, |chunk| {
        if keep {
            data.extend_from_slice(chunk);
        }
    })?;
    let info = ArrayInfo {
        name: name.to_string(),
        shape: header.shape.clone(),
        dtype: header.dtype,
    };
    let array = keep.then(|| {
        if header.fortran_order {
            data = fortran_to_c(&data, &header.shape);
        }
        Array::new(header.shape, header.dtype, data)
    });
    Ok((info, array))
}

/// Reads and checks the magic, version and header dict.
pub(super) fn read_header<R: Read>(r: &mut R, name: &str) -> Result<Header, FormatError> {
    let truncated = || FormatError::TruncatedHeader {
        name: name.to_string(),
    };
    let mut lead = [0u8; 8];
    let n = read_full(r, &mut lead)?;
    if n == 0 || lead[..n.min(6)] != MAGIC[..n.min(6)] {
        return Err(FormatError::NotNpy {
            name: name.to_string(),
            first_bytes: lead[..n].to_vec(),
        });
    }
    if n < lead.len() {
        return Err(truncated());
    }
    let (major, minor) = (lead[6], lead[7]);
    let header_len = match (major, minor) {
        (1, 0) => {
            let mut b = [0u8; 2];
            if read_full(r, &mut b)? < b.len() {
                return Err(truncated());
            }
            usize::from(u16::from_le_bytes(b))
        }
        (2 | 3, 0) => {
            let mut b = [0u8; 4];
            if read_full(r, &mut b)? < b.len() {
                return Err(truncated());
            }
            usize::try_from(u32::from_le_bytes(b)).unwrap_or(usize::MAX)
        }
        _ => {
            return Err(FormatError::UnsupportedVersion {
                name: name.to_string(),
                major,
                minor,
            });
        }
    };
    if header_len > MAX_HEADER_LEN {
        return Err(bad_header(
            name,
            format!("the header claims to be {header_len} bytes long"),
        ));
    }
    let mut raw = vec![0u8; header_len];
    if read_full(r, &mut raw)? < header_len {
        return Err(truncated());
    }
    // Versions 1.0 and 2.0 are latin-1, where every byte is the char of the same code point.
    let text = if major == 3 {
        String::from_utf8(raw).map_err(|_| bad_header(name, "the header is not valid UTF-8"))?
    } else {
        raw.iter().copied().map(char::from).collect()
    };
    parse_header(&text, name)
}

/// Interprets the header dict text.
pub(super) fn parse_header(text: &str, name: &str) -> Result<Header, FormatError> {
    let dict = match PyParser::parse(text) {
        Ok(Py::Dict(items)) => items,
        Ok(_) => return Err(bad_header(name, "the header is not a dict")),
        Err(reason) => return Err(bad_header(name, reason)),
    };
    let get = |key: &str| {
        dict.iter()
            .find(|(k, _)| matches!(k, Py::Str(s) if s == key))
            .map(|(_, v)| v)
            .ok_or_else(|| bad_header(name, format!("key '{key}' is missing")))
    };
    let (dtype, big_endian) = parse_descr(get("descr")?, name)?;
    let fortran_order = match get("fortran_order")? {
        Py::Bool(b) => *b,
        _ => return Err(bad_header(name, "'fortran_order' is not True or False")),
    };
    let dims = match get("shape")? {
        Py::Tuple(items) | Py::List(items) => items,
        _ => return Err(bad_header(name, "'shape' is not a tuple")),
    };
    let mut shape = Vec::with_capacity(dims.len());
    for d in dims {
        match d {
            Py::Int(i) => match usize::try_from(*i) {
                Ok(u) => shape.push(u),
                Err(_) if *i < 0 => {
                    return Err(bad_header(name, format!("'shape' has a negative size {i}")));
                }
                Err(_) => {
                    return Err(FormatError::TooLarge {
                        name: name.to_string(),
                        shape: py_shape(dims_text(dims).as_slice()),
                    });
                }
            },
            _ => {
                return Err(bad_header(
                    name,
                    "'shape' holds something other than integers",
                ));
            }
        }
    }
    let too_large = || FormatError::TooLarge {
        name: name.to_string(),
        shape: py_shape(&shape),
    };
    // The product ignoring zero sizes must fit too: shape (0, 2^40, 2^40) holds no data, but code
    // that multiplies two of its sizes would still overflow.
    let mut len: usize = 1;
    let mut len_nonzero: usize = 1;
    for &d in &shape {
        len = len.checked_mul(d).ok_or_else(too_large)?;
        len_nonzero = len_nonzero.checked_mul(d.max(1)).ok_or_else(too_large)?;
    }
    // Loaded data is held as f64: 8 bytes per element must be addressable.
    let max_elems = isize::MAX.unsigned_abs() / 8;
    if len_nonzero > max_elems {
        return Err(too_large());
    }
    let data_bytes = u64::try_from(len)
        .ok()
        .and_then(|l| l.checked_mul(dtype.size() as u64))
        .ok_or_else(too_large)?;
    Ok(Header {
        dtype,
        big_endian,
        fortran_order,
        shape,
        len,
        data_bytes,
    })
}

fn dims_text(dims: &[Py]) -> Vec<String> {
    dims.iter()
        .map(|d| match d {
            Py::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn bad_header(name: &str, reason: impl Into<String>) -> FormatError {
    FormatError::BadHeader {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// Maps a `descr` value to a supported dtype and its byte order (true = big-endian), or to an
/// error that says how to convert the array.
fn parse_descr(descr: &Py, name: &str) -> Result<(Dtype, bool), FormatError> {
    let s = match descr {
        Py::Str(s) => s.as_str(),
        Py::List(fields) => {
            // Structured dtypes are written as a list of (name, type[, shape]) tuples.
            let fields = fields
                .iter()
                .map(|f| match f {
                    Py::Tuple(t) => match t.first() {
                        Some(Py::Str(s)) => s.clone(),
                        _ => "?".to_string(),
                    },
                    _ => "?".to_string(),
                })
                .collect();
            return Err(FormatError::StructuredDtype {
                name: name.to_string(),
                fields,
            });
        }
        _ => return Err(bad_header(name, "'descr' is not a dtype string")),
    };
    // '=' (native) means little-endian: numpy only runs little-endian where we receive files.
    let (big_endian, rest) = match s.chars().next() {
        Some('>') => (true, &s[1..]),
        Some('<' | '|' | '=') => (false, &s[1..]),
        _ => (false, s),
    };
    let unsupported = |kind: &'static str, hint: &'static str| FormatError::UnsupportedDtype {
        name: name.to_string(),
        descr: s.to_string(),
        kind,
        hint,
    };
    let kind = rest.chars().next().unwrap_or(' ');
    let size = rest.get(1..).unwrap_or("");
    let dtype = match (kind, size) {
        ('b', "1") => Dtype::Bool,
        ('i', "1") => Dtype::Int8,
        ('i', "2") => Dtype::Int16,
        ('i', "4") => Dtype::Int32,
        ('i', "8") => Dtype::Int64,
        ('u', "1") => Dtype::Uint8,
        ('u', "2") => Dtype::Uint16,
        ('u', "4") => Dtype::Uint32,
        ('u', "8") => Dtype::Uint64,
        ('f', "4") => Dtype::Float32,
        ('f', "8") => Dtype::Float64,
        ('f', "2") => {
            return Err(unsupported(
                "float16",
                "convert with X.astype(np.float32) or X.astype(np.float64)",
            ));
        }
        ('f', "12" | "16") => {
            return Err(unsupported(
                "long double",
                "convert with X.astype(np.float64)",
            ));
        }
        ('c', _) => {
            return Err(unsupported(
                "complex",
                "keep the real values you mean, e.g. X.real.astype(np.float64) or np.abs(X)",
            ));
        }
        ('O', _) => {
            return Err(FormatError::ObjectDtype {
                name: name.to_string(),
            });
        }
        ('U' | 'S' | 'a', _) => {
            return Err(unsupported(
                "text strings",
                "save numbers only; encode labels as integers, e.g. \
                 np.unique(labels, return_inverse=True)[1]",
            ));
        }
        ('M', _) => {
            return Err(unsupported(
                "datetime64",
                "convert to numbers first, e.g. X.astype(np.int64)",
            ));
        }
        ('m', _) => {
            return Err(unsupported(
                "timedelta64",
                "convert to numbers first, e.g. X / np.timedelta64(1, 's')",
            ));
        }
        ('V', _) => {
            return Err(unsupported(
                "raw bytes",
                "save a plain numeric array, e.g. X.astype(np.float64)",
            ));
        }
        _ => {
            return Err(unsupported(
                "unrecognised",
                "supported dtypes are float32/64, int8-64, uint8-64 and bool; convert with \
                 X.astype(np.float64)",
            ));
        }
    };
    Ok((dtype, big_endian))
}

/// Streams the element data `header` describes from `r` in chunks, decoding each to f64,
/// checking float values are finite and passing it to `sink`; then checks nothing follows (which,
/// inside a zip member, also makes the zip reader verify its CRC).
pub(super) fn read_data<R: Read>(
    r: &mut R,
    header: &Header,
    name: &str,
    mut sink: impl FnMut(&[f64]),
) -> Result<(), FormatError> {
    let chunk_len = usize::try_from(header.data_bytes)
        .unwrap_or(usize::MAX)
        .min(CHUNK_BYTES);
    let mut buf = vec![0u8; chunk_len];
    let mut values = Vec::with_capacity(chunk_len / header.dtype.size());
    let mut done_bytes: u64 = 0;
    let mut done_elems: usize = 0;
    while done_bytes < header.data_bytes {
        let left = header.data_bytes - done_bytes;
        let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        let got = read_full(r, &mut buf[..want])?;
        done_bytes += got as u64;
        if got < want {
            return Err(FormatError::Truncated {
                name: name.to_string(),
                expected: header.data_bytes,
                found: done_bytes,
            });
        }
        values.clear();
        decode(header.dtype, header.big_endian, &buf[..got], &mut values);
        if header.dtype.is_float()
            && let Some(i) = values.iter().position(|v| !v.is_finite())
        {
            return Err(non_finite(header, name, done_elems + i, values[i]));
        }
        sink(&values);
        done_elems += values.len();
    }
    let extra = io::copy(r, &mut io::sink())?;
    if extra > 0 {
        return Err(FormatError::TrailingData {
            name: name.to_string(),
            extra,
        });
    }
    Ok(())
}

/// The error for the non-finite `value` found at position `file_pos` in file order.
fn non_finite(header: &Header, name: &str, file_pos: usize, value: f64) -> FormatError {
    let shape = &header.shape;
    let mut index = vec![0; shape.len()];
    let mut rest = file_pos;
    // File order runs the first axis fastest for Fortran order, the last for C order.
    let axes: Vec<usize> = if header.fortran_order {
        (0..shape.len()).collect()
    } else {
        (0..shape.len()).rev().collect()
    };
    for k in axes {
        let d = shape[k].max(1);
        index[k] = rest % d;
        rest /= d;
    }
    let flat_index = index.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i);
    FormatError::NonFinite {
        name: name.to_string(),
        value: if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "Inf"
        } else {
            "-Inf"
        },
        flat_index,
        index,
    }
}

/// Appends the elements of `bytes` (a whole number of them) to `out` as f64.
fn decode(dtype: Dtype, big_endian: bool, bytes: &[u8], out: &mut Vec<f64>) {
    macro_rules! widen {
        ($t:ty) => {{
            let (elems, _) = bytes.as_chunks::<{ size_of::<$t>() }>();
            out.extend(elems.iter().map(|e| {
                let v = if big_endian {
                    <$t>::from_be_bytes(*e)
                } else {
                    <$t>::from_le_bytes(*e)
                };
                v as f64
            }));
        }};
    }
    match dtype {
        Dtype::Bool => out.extend(bytes.iter().map(|&b| f64::from(u8::from(b != 0)))),
        Dtype::Int8 => widen!(i8),
        Dtype::Int16 => widen!(i16),
        Dtype::Int32 => widen!(i32),
        Dtype::Int64 => widen!(i64),
        Dtype::Uint8 => widen!(u8),
        Dtype::Uint16 => widen!(u16),
        Dtype::Uint32 => widen!(u32),
        Dtype::Uint64 => widen!(u64),
        Dtype::Float32 => widen!(f32),
        Dtype::Float64 => widen!(f64),
    }
}

/// Reorders data stored in Fortran order (first index fastest) into row-major order.
pub(super) fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    if shape.len() < 2 {
        return data.to_vec();
    }
    // Row-major strides; `c` tracks the row-major offset of the current Fortran-order position.
    let mut strides = vec![1usize; shape.len()];
    for k in (0..shape.len() - 1).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    let mut out = vec![0.0; data.len()];
    let mut index = vec![0usize; shape.len()];
    let mut c = 0usize;
    for &v in data {
        out[c] = v;
        for k in 0..shape.len() {
            index[k] += 1;
            c += strides[k];
            if index[k] < shape[k] {
                break;
            }
            c -= strides[k] * shape[k];
            index[k] = 0;
        }
    }
    out
}

/// Writes `array` as a version 1.0 (2.0 if the header needs it) `.npy` file of `<f8` in C order.
/// Fails with `InvalidInput` if the data length does not match the shape.
pub fn write_npy(array: &Array, out: &mut impl Write) -> io::Result<()> {
    let len = array
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d));
    if len != Some(array.data.len()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "array of shape {:?} has {} values",
                array.shape,
                array.data.len()
            ),
        ));
    }
    out.write_all(&header_bytes(&array.shape))?;
    let mut buf = Vec::with_capacity(64 * 1024);
    for chunk in array.data.chunks(8 * 1024) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// Magic, version, length and dict of a `<f8` C-order header, padded so the data starts on a
/// 64-byte boundary as numpy does.
pub(super) fn header_bytes(shape: &[usize]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}",
        py_shape(shape)
    );
    // Version 1.0 stores the header length in a u16; longer headers (absurd ranks) need 2.0.
    let v1_len = (10 + dict.len() + 1).next_multiple_of(64) - 10;
    let (version, prefix) = if v1_len <= usize::from(u16::MAX) {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let header_len = (prefix + dict.len() + 1).next_multiple_of(64) - prefix;
    let mut out = Vec::with_capacity(prefix + header_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix + header_len - 1, b' ');
    out.push(b'\n');
    out
}

/// Fills `buf` from `r` as far as the data goes; returns how many bytes were read (less than
/// `buf.len()` only at end of input).
pub(super) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The Python literals that can appear in a `.npy` header.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

/// A recursive-descent parser for the subset of Python literal syntax numpy writes (`repr` of a
/// dict of strings, bools and int tuples, or lists of tuples for structured dtypes), tolerant of
/// spacing, trailing commas and Python 2's `3L` longs.
struct PyParser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> PyParser<'a> {
    /// Nesting deeper than this is not a numpy header (and would risk the stack).
    const MAX_DEPTH: usize = 32;

    fn parse(text: &'a str) -> Result<Py, String> {
        let mut p = PyParser {
            s: text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        let v = p.value()?;
        p.skip_ws();
        if p.pos < p.s.len() {
            return Err(format!("unexpected text after the dict at byte {}", p.pos));
        }
        Ok(v)
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn value(&mut self) -> Result<Py, String> {
        let at = self.pos;
        match self.peek() {
            None => Err("the header ends early".to_string()),
            Some(b'{') => self.nested(b'}', true),
            Some(b'(') => self.nested(b')', false),
            Some(b'[') => self.nested(b']', false),
            Some(b'\'' | b'"') => self.string(),
            Some(b'u' | b'b') if matches!(self.s.get(self.pos + 1), Some(b'\'' | b'"')) => {
                self.pos += 1;
                self.string()
            }
            Some(b'0'..=b'9' | b'-' | b'+') => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Py::Bool(true)),
                    b"False" => Ok(Py::Bool(false)),
                    b"None" => Ok(Py::None),
                    word => Err(format!(
                        "unexpected word '{}' at byte {start}",
                        String::from_utf8_lossy(word)
                    )),
                }
            }
            Some(c) => Err(format!(
                "unexpected character '{}' at byte {}",
                char::from(c),
                at.max(self.pos)
            )),
        }
    }

    /// A dict, tuple or list; the opening bracket is at `self.pos`.
    fn nested(&mut self, close: u8, is_dict: bool) -> Result<Py, String> {
        self.depth += 1;
        if self.depth > Self::MAX_DEPTH {
            return Err("the header is nested too deeply".to_string());
        }
        let open = self.s[self.pos];
        self.pos += 1;
        let mut items = Vec::new();
        let mut pairs = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                break;
            }
            let v = self.value()?;
            if is_dict {
                if self.peek() != Some(b':') {
                    return Err(format!("expected ':' at byte {}", self.pos));
                }
                self.pos += 1;
                let val = self.value()?;
                pairs.push((v, val));
            } else {
                items.push(v);
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => {
                    return Err(format!(
                        "expected ',' or '{}' at byte {}",
                        char::from(close),
                        self.pos
                    ));
                }
            }
        }
        self.depth -= 1;
        Ok(match open {
            b'{' => Py::Dict(pairs),
            b'(' => Py::Tuple(items),
            _ => Py::List(items),
        })
    }

    fn string(&mut self) -> Result<Py, String> {
        let quote = self.s[self.pos];
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(format!("unterminated string starting at byte {start}"));
            };
            self.pos += 1;
            match c {
                _ if c == quote => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(format!("unterminated string starting at byte {start}"));
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        _ => out.push(e),
                    }
                }
                _ => out.push(c),
            }
        }
        Ok(Py::Str(String::from_utf8_lossy(&out).into_owned()))
    }

    fn int(&mut self) -> Result<Py, String> {
        let start = self.pos;
        let negative = self.s[self.pos] == b'-';
        if matches!(self.s[self.pos], b'-' | b'+') {
            self.pos += 1;
        }
        let mut v: i128 = 0;
        let mut digits = 0;
        while let Some(&c) = self.s.get(self.pos) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i128::from(c - b'0')))
                .ok_or_else(|| format!("number at byte {start} is too large"))?;
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err(format!("expected a number at byte {start}"));
        }
        // Python 2 wrote shapes of long ints as `(3L, 4L)`.
        if matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        Ok(Py::Int(if negative { -v } else { v }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_python_literals() {
        let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";
        let v = PyParser::parse(h).unwrap();
        let Py::Dict(items) = v else { panic!() };
        assert_eq!(items.len(), 3);
        assert_eq!(items[2].1, Py::Tuple(vec![Py::Int(3), Py::Int(4)]));
        assert_eq!(
            PyParser::parse(" ( 5 , ) ").unwrap(),
            Py::Tuple(vec![Py::Int(5)])
        );
        assert_eq!(PyParser::parse("()").unwrap(), Py::Tuple(vec![]));
        assert_eq!(
            PyParser::parse("(3L, 4L)").unwrap(),
            Py::Tuple(vec![Py::Int(3), Py::Int(4)])
        );
        assert_eq!(
            PyParser::parse(r#""a\"b""#).unwrap(),
            Py::Str("a\"b".into())
        );
        assert!(PyParser::parse("{'a': 1").is_err());
        assert!(PyParser::parse("{'a' 1}").is_err());
        assert!(PyParser::parse("(1, 2) junk").is_err());
        assert!(PyParser::parse("'unterminated").is_err());
        assert!(PyParser::parse("99999999999999999999999999999999999999999999").is_err());
        assert!(PyParser::parse(&"(".repeat(1000)).is_err());
        assert!(PyParser::parse("").is_err());
        assert!(PyParser::parse("-").is_err());
    }

    #[test]
    fn fortran_to_c_reorders() {
        // 2x3 [[0,1,2],[3,4,5]] stored column-major is 0,3,1,4,2,5.
        let f = [0.0, 3.0, 1.0, 4.0, 2.0, 5.0];
        assert_eq!(
            fortran_to_c(&f, &[2, 3]),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        // 2x2x2: element [i,j,k] = 4i+2j+k, Fortran offset i + 2j + 4k.
        let mut f3 = vec![0.0; 8];
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..2 {
                    f3[i + 2 * j + 4 * k] = (4 * i + 2 * j + k) as f64;
                }
            }
        }
        let want: Vec<f64> = (0..8).map(f64::from).collect();
        assert_eq!(fortran_to_c(&f3, &[2, 2, 2]), want);
        assert!(fortran_to_c(&[], &[0, 3]).is_empty());
    }

    #[test]
    fn header_is_64_byte_aligned() {
        for shape in [vec![], vec![5], vec![3, 4], vec![2, 3, 4]] {
            let h = header_bytes(&shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(h.last(), Some(&b'\n'));
        }
    }
}
