//! The `.npz` format: a zip archive of `NAME.npy` members, stored (`np.savez`) or deflated
//! (`np.savez_compressed`). Members are streamed through the `.npy` reader, so validating an
//! archive holds one chunk of one member at a time.

use std::collections::HashSet;
use std::io::{Read, Seek, Write};

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use super::npy;
use super::{ArrayInfo, FormatError};
use crate::array::Array;

/// Reads every member of the archive in `reader` (keeping the data when `keep`), in archive order.
pub(super) fn read_members<R: Read + Seek>(
    reader: R,
    keep: bool,
) -> Result<Vec<(ArrayInfo, Option<Array>)>, FormatError> {
    let mut archive = ZipArchive::new(reader).map_err(zip_error)?;
    // The zip reader indexes members by name and would silently keep only one of two duplicates.
    if archive.has_duplicate_names() {
        return Err(FormatError::Zip {
            reason: "two members have the same name; give every array its own name".to_string(),
        });
    }
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zip_error)?;
        if member.is_dir() {
            continue;
        }
        let member_name = member.name().map_err(zip_error)?.into_owned();
        let Some(name) = member_name.strip_suffix(".npy") else {
            return Err(FormatError::NotNpyMember {
                member: member_name,
            });
        };
        // Read errors inside a member come from the zip layer (bad CRC, broken deflate stream).
        let array = npy::read_array(&mut member, name, keep).map_err(|e| match e {
            FormatError::Io(e) => FormatError::Zip {
                reason: format!("array '{name}': {e}"),
            },
            other => other,
        })?;
        out.push(array);
    }
    if out.is_empty() {
        return Err(FormatError::EmptyArchive);
    }
    Ok(out)
}

fn zip_error(e: ZipError) -> FormatError {
    match e {
        ZipError::Io(e) => FormatError::Io(e),
        ZipError::UnsupportedArchive(what) => FormatError::Zip {
            reason: format!("unsupported zip feature: {what}"),
        },
        ZipError::CompressionMethodNotSupported(m) => FormatError::Zip {
            reason: format!(
                "compression method {m} is not supported, only stored and deflate as written by \
                 np.savez / np.savez_compressed"
            ),
        },
        other => FormatError::Zip {
            reason: other.to_string(),
        },
    }
}

/// Writes an uncompressed (stored, like `np.savez`) archive with one `NAME.npy` (`<f8`) member per
/// array to `out`, and returns `out`. Fails on duplicate names or an array whose data length does
/// not match its shape.
pub fn write_npz<W: Write + Seek>(arrays: &[(&str, &Array)], out: W) -> Result<W, FormatError> {
    let mut seen = HashSet::new();
    for (name, _) in arrays {
        if !seen.insert(*name) {
            return Err(FormatError::DuplicateName {
                name: (*name).to_string(),
            });
        }
    }
    let mut zip = ZipWriter::new(out);
    for (name, array) in arrays {
        let npy_len = npy::header_bytes(&array.shape).len() as u64
            + (array.data.len() as u64).saturating_mul(8);
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            // A fixed timestamp keeps the output reproducible.
            .last_modified_time(DateTime::default())
            .large_file(npy_len >= u64::from(u32::MAX));
        zip.start_file(format!("{name}.npy"), options)
            .map_err(zip_error)?;
        npy::write_npy(array, &mut zip)?;
    }
    zip.finish().map_err(zip_error)
}
