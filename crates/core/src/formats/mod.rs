//! Reading and writing numpy `.npy` / `.npz` files, the upload format of lab scripts.
//!
//! Uploads are untrusted: every reader checks the header, the dtype, the data size and (for
//! floats) that values are finite, and reports problems as a [`FormatError`] whose message tells a
//! lab user what is wrong and how to fix it in numpy. Nothing here panics on bad input or
//! allocates more than the data actually present: sizes are computed with checked arithmetic and
//! data is read in bounded chunks ([`inspect_file`] never holds more than one chunk).
//!
//! Every accepted dtype is widened to `f64` (see [`crate::array`]); writers always emit `<f8`.

mod npy;
mod npz;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::array::{Array, Dtype};

pub use npy::write_npy;
pub use npz::write_npz;

/// What a file holds, without its data: one entry per array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArrayInfo {
    /// `default_name` for a `.npy`; the member name without `.npy` for a `.npz`.
    pub name: String,
    pub shape: Vec<usize>,
    /// The dtype as stored in the file (data is widened to f64 on load).
    pub dtype: Dtype,
}

/// Why a file cannot be read. Messages are shown to lab users as is, so each names the array
/// concerned and says how to fix the problem from Python.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("could not read the file: {0}")]
    Io(#[from] io::Error),

    #[error("{}", not_npy_or_npz_message(.first_bytes))]
    NotNpyOrNpz { first_bytes: Vec<u8> },

    #[error(
        "array '{name}' is not in .npy format: its first bytes are {} (expected \\x93NUMPY); \
         write .npz files with np.savez or np.savez_compressed",
        show_bytes(.first_bytes)
    )]
    NotNpy { name: String, first_bytes: Vec<u8> },

    #[error(
        "the .npz archive contains '{member}', which is not a NAME.npy array; only archives \
         written by np.savez / np.savez_compressed are supported (not e.g. PyTorch .pt files)"
    )]
    NotNpyMember { member: String },

    #[error(
        "array '{name}' uses .npy format version {major}.{minor}, which cannot be read here \
         (versions 1.0, 2.0 and 3.0 are supported); re-save it with np.save"
    )]
    UnsupportedVersion { name: String, major: u8, minor: u8 },

    #[error(
        "file is truncated: it ends inside the .npy header of array '{name}'; upload the \
         complete file"
    )]
    TruncatedHeader { name: String },

    #[error("array '{name}' has a malformed .npy header ({reason}); re-save it with np.save")]
    BadHeader { name: String, reason: String },

    #[error("unsupported dtype '{descr}' ({kind}) in array '{name}'; {hint}")]
    UnsupportedDtype {
        name: String,
        descr: String,
        kind: &'static str,
        hint: &'static str,
    },

    #[error(
        "dtype object ('|O') is not supported: save a numeric array (array '{name}' holds \
         Python objects; convert it with np.asarray(X, dtype=np.float64))"
    )]
    ObjectDtype { name: String },

    #[error(
        "array '{name}' has a structured dtype (fields {fields:?}), which is not supported: save \
         a plain numeric array, e.g. \
         numpy.lib.recfunctions.structured_to_unstructured(X).astype(np.float64)"
    )]
    StructuredDtype { name: String, fields: Vec<String> },

    #[error(
        "array '{name}' has shape {shape}, which is too large to address (its size overflows); \
         the header is probably corrupt: re-save the array with np.save"
    )]
    TooLarge { name: String, shape: String },

    #[error(
        "file is truncated: the header of array '{name}' promises {expected} bytes of data, \
         found {found}; upload the complete file"
    )]
    Truncated {
        name: String,
        expected: u64,
        found: u64,
    },

    #[error(
        "array '{name}' is followed by {extra} bytes that its header does not describe (several \
         arrays written into one .npy file?); save one array per file with np.save, or several \
         with np.savez"
    )]
    TrailingData { name: String, extra: u64 },

    #[error(
        "array '{name}' contains {value} at flat index {flat_index}{}; remove or impute \
         non-finite values before uploading (np.isfinite(X).all() must be True)",
        position(.index)
    )]
    NonFinite {
        name: String,
        /// `"NaN"`, `"Inf"` or `"-Inf"`.
        value: &'static str,
        /// Row-major (C-order) position, as `X.ravel()` would number it.
        flat_index: usize,
        /// The full index into the array.
        index: Vec<usize>,
    },

    #[error(
        "the .npz (zip) archive cannot be read ({reason}); it may be truncated or corrupt: \
         re-save it with np.savez and upload it again"
    )]
    Zip { reason: String },

    #[error("the .npz archive contains no arrays; save at least one, e.g. np.savez(path, X=X)")]
    EmptyArchive,

    /// Only from [`write_npz`]: a duplicate in an uploaded archive is a [`FormatError::Zip`].
    #[error("two arrays are named '{name}'; give every array its own name")]
    DuplicateName { name: String },
}

/// Validates a whole `.npy` or `.npz` file on disk (detected by its magic bytes) without loading
/// it: data is streamed in 1 MiB chunks, checking dtype support, that sizes match the header and
/// that float values are finite. Returns one [`ArrayInfo`] per array; a `.npy` array is named
/// `default_name`.
pub fn inspect_file(path: &Path, default_name: &str) -> Result<Vec<ArrayInfo>, FormatError> {
    let file = BufReader::new(File::open(path)?);
    let arrays = read_any(file, default_name, false)?;
    Ok(arrays.into_iter().map(|(info, _)| info).collect())
}

/// Loads every array of a `.npy` (one array named `default_name`) or `.npz` file (member names
/// without the `.npy` suffix, in archive order), with the same checks as [`inspect_file`].
pub fn load_file(path: &Path, default_name: &str) -> Result<Vec<(String, Array)>, FormatError> {
    let file = BufReader::new(File::open(path)?);
    collect(read_any(file, default_name, true)?)
}

/// [`load_file`] for a file already in memory.
pub fn load_bytes(bytes: &[u8], default_name: &str) -> Result<Vec<(String, Array)>, FormatError> {
    collect(read_any(Cursor::new(bytes), default_name, true)?)
}

/// The `.npy` encoding of `array` (as `<f8`, C order).
///
/// # Panics
/// If `array.data.len()` differs from the product of its shape (a broken `Array` invariant).
pub fn npy_bytes(array: &Array) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + array.data.len() * 8);
    if let Err(e) = write_npy(array, &mut out) {
        panic!("npy_bytes: {e}");
    }
    out
}

/// An uncompressed `.npz` (stored zip, like `np.savez`) holding `NAME.npy` for every array.
///
/// # Panics
/// If two arrays share a name or an array breaks the `Array` invariant; use [`write_npz`] to get
/// these as errors instead.
pub fn npz_bytes(arrays: &[(&str, &Array)]) -> Vec<u8> {
    match write_npz(arrays, Cursor::new(Vec::new())) {
        Ok(cursor) => cursor.into_inner(),
        Err(e) => panic!("npz_bytes: {e}"),
    }
}

/// Which container a file is, from its first bytes.
enum Container {
    Npy,
    Zip,
}

/// Detects the container, rewinds, and reads every array (keeping the data when `keep`).
fn read_any<R: Read + Seek>(
    mut reader: R,
    default_name: &str,
    keep: bool,
) -> Result<Vec<(ArrayInfo, Option<Array>)>, FormatError> {
    let mut first = [0u8; 16];
    let n = npy::read_full(&mut reader, &mut first)?;
    let first = &first[..n];
    reader.seek(SeekFrom::Start(0))?;
    let container = if first.starts_with(npy::MAGIC) {
        Container::Npy
    } else if first.starts_with(b"PK\x03\x04") || first.starts_with(b"PK\x05\x06") {
        // A local file header, or the end-of-directory record of an empty archive.
        Container::Zip
    } else {
        return Err(FormatError::NotNpyOrNpz {
            first_bytes: first.to_vec(),
        });
    };
    match container {
        Container::Npy => Ok(vec![npy::read_array(&mut reader, default_name, keep)?]),
        Container::Zip => npz::read_members(reader, keep),
    }
}

fn collect(arrays: Vec<(ArrayInfo, Option<Array>)>) -> Result<Vec<(String, Array)>, FormatError> {
    Ok(arrays
        .into_iter()
        .filter_map(|(info, array)| array.map(|a| (info.name, a)))
        .collect())
}

/// Bytes as a Python bytes literal (`b'\x89HDF\r\n'`), the way a lab user would see them in
/// `open(path, 'rb').read(8)`.
fn show_bytes(bytes: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in bytes.iter().take(12) {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('\'');
    s
}

/// The message for a file that is neither `.npy` nor `.npz`, with a guess at what it is instead.
fn not_npy_or_npz_message(first: &[u8]) -> String {
    if first.is_empty() {
        return "not a .npy or .npz file: the file is empty; save arrays with np.save(path, X) \
                or np.savez(path, X=X)"
            .to_string();
    }
    let guess = if first.starts_with(b"\x89HDF\r\n\x1a\n") {
        "; this looks like HDF5 (e.g. a MATLAB v7.3 .mat file): load it in Python and re-save \
         the array with np.save"
    } else if first.starts_with(b"MATLAB") {
        "; this looks like a MATLAB .mat file: load it with scipy.io.loadmat and re-save the \
         array with np.save"
    } else if first.starts_with(b"\x1f\x8b") {
        "; this looks gzip-compressed: decompress it first, or use np.savez_compressed"
    } else if first.len() >= 2 && first[0] == 0x80 && (2..=5).contains(&first[1]) {
        "; this looks like a Python pickle: load it and re-save the array with np.save"
    } else if first
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "; this looks like a text file: load it with np.loadtxt and re-save the array with \
         np.save"
    } else {
        "; save arrays with np.save(path, X) or np.savez(path, X=X)"
    };
    format!(
        "not a .npy or .npz file: the first bytes are {} (expected \\x93NUMPY or a zip \
         archive){guess}",
        show_bytes(first)
    )
}

/// ` (row 3, column 2)` for 2-D arrays, ` (index [t, c, n])` for higher ranks, nothing for 0-D
/// and 1-D where the flat index says it all.
fn position(index: &[usize]) -> String {
    match index {
        [] | [_] => String::new(),
        [r, c] => format!(" (row {r}, column {c})"),
        _ => format!(" (index {index:?})"),
    }
}

/// A shape as Python prints it: `()`, `(5,)`, `(3, 4)`.
fn py_shape<T: std::fmt::Display>(shape: &[T]) -> String {
    match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    }
}

#[cfg(test)]
mod tests;
