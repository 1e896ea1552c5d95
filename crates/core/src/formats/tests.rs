//! Tests on hand-built bytes; `tests/npy_fixtures.rs` checks files written by numpy itself.

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;

/// A `.npy` file with the given version and literal header text (padded as numpy pads it).
fn raw_npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if version == 1 { 10 } else { 12 };
    let len = (prefix + header.len() + 1).next_multiple_of(64) - prefix;
    let mut out = MAGIC_BYTES.to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.resize(prefix + len - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

const MAGIC_BYTES: &[u8] = b"\x93NUMPY";

fn header(descr: &str, fortran: bool, shape: &str) -> String {
    let f = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}")
}

fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    raw_npy(1, &header(descr, fortran, shape), data)
}

fn f8_le(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn load_one(bytes: &[u8]) -> Result<Array, FormatError> {
    let mut arrays = load_bytes(bytes, "X")?;
    assert_eq!(arrays.len(), 1);
    let (name, array) = arrays.remove(0);
    assert_eq!(name, "X");
    Ok(array)
}

fn err(bytes: &[u8]) -> FormatError {
    match load_bytes(bytes, "X") {
        Ok(a) => panic!("expected an error, loaded {a:?}"),
        Err(e) => e,
    }
}

/// A fresh path under the system temp dir (core has no tempfile dependency).
fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("simscore-formats-{}-{n}-{tag}", std::process::id()))
}

// ---- round trips -------------------------------------------------------------------------

macro_rules! encode {
    ($t:ty, $vals:expr, $big:expr) => {
        $vals
            .iter()
            .flat_map(|&v: &$t| {
                if $big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            })
            .collect::<Vec<u8>>()
    };
}

#[test]
fn every_dtype_in_both_byte_orders() {
    for big in [false, true] {
        let o = if big { '>' } else { '<' };
        let cases: Vec<(String, Dtype, Vec<u8>, Vec<f64>)> = vec![
            (
                format!("{o}f4"),
                Dtype::Float32,
                encode!(f32, [1.5f32, -0.25, 3e38, 0.0], big),
                vec![1.5, -0.25, f64::from(3e38f32), 0.0],
            ),
            (
                format!("{o}f8"),
                Dtype::Float64,
                encode!(f64, [1.5f64, -1e300, 5e-324, -0.0], big),
                vec![1.5, -1e300, 5e-324, -0.0],
            ),
            (
                "|i1".into(),
                Dtype::Int8,
                encode!(i8, [-128i8, -1, 0, 127], big),
                vec![-128.0, -1.0, 0.0, 127.0],
            ),
            (
                format!("{o}i2"),
                Dtype::Int16,
                encode!(i16, [-32768i16, -2, 3, 32767], big),
                vec![-32768.0, -2.0, 3.0, 32767.0],
            ),
            (
                format!("{o}i4"),
                Dtype::Int32,
                encode!(i32, [i32::MIN, -7, 65536, i32::MAX], big),
                vec![f64::from(i32::MIN), -7.0, 65536.0, f64::from(i32::MAX)],
            ),
            (
                format!("{o}i8"),
                Dtype::Int64,
                encode!(i64, [-(1i64 << 53), -1, 1 << 40, 1 << 53], big),
                vec![-(2f64.powi(53)), -1.0, 2f64.powi(40), 2f64.powi(53)],
            ),
            (
                "|u1".into(),
                Dtype::Uint8,
                encode!(u8, [0u8, 1, 128, 255], big),
                vec![0.0, 1.0, 128.0, 255.0],
            ),
            (
                format!("{o}u2"),
                Dtype::Uint16,
                encode!(u16, [0u16, 1, 256, 65535], big),
                vec![0.0, 1.0, 256.0, 65535.0],
            ),
            (
                format!("{o}u4"),
                Dtype::Uint32,
                encode!(u32, [0u32, 1, 1 << 16, u32::MAX], big),
                vec![0.0, 1.0, 65536.0, f64::from(u32::MAX)],
            ),
            (
                format!("{o}u8"),
                Dtype::Uint64,
                encode!(u64, [0u64, 1, 1 << 32, 1 << 53], big),
                vec![0.0, 1.0, 2f64.powi(32), 2f64.powi(53)],
            ),
            (
                "|b1".into(),
                Dtype::Bool,
                vec![0, 1, 1, 0],
                vec![0.0, 1.0, 1.0, 0.0],
            ),
        ];
        for (descr, dtype, bytes, want) in cases {
            let a = load_one(&npy(&descr, false, "(2, 2)", &bytes))
                .unwrap_or_else(|e| panic!("{descr}: {e}"));
            assert_eq!(a.shape, vec![2, 2], "{descr}");
            assert_eq!(a.dtype, dtype, "{descr}");
            assert_eq!(a.data, want, "{descr}");
            // Writing widens to <f8 and reading back keeps the values.
            let back = load_one(&npy_bytes(&a)).unwrap();
            assert_eq!(back.data, want, "{descr}");
            assert_eq!(back.dtype, Dtype::Float64);
        }
    }
}

#[test]
fn native_and_not_applicable_byte_orders_are_little_endian() {
    let data = f8_le(&[1.0, 2.0]);
    assert_eq!(
        load_one(&npy("=f8", false, "(2,)", &data)).unwrap().data,
        vec![1.0, 2.0]
    );
    assert_eq!(
        load_one(&npy("f8", false, "(2,)", &data)).unwrap().data,
        vec![1.0, 2.0]
    );
    let b = load_one(&npy("<b1", false, "(3,)", &[0, 2, 255])).unwrap();
    assert_eq!(b.data, vec![0.0, 1.0, 1.0], "any non-zero byte is True");
}

#[test]
fn write_then_read_every_rank() {
    let cases = [
        (vec![], vec![3.25]),
        (vec![4], vec![1.0, -2.0, 3.5, 0.0]),
        (vec![2, 3], (0..6).map(f64::from).collect()),
        (vec![2, 3, 2], (0..12).map(|i| f64::from(i) / 3.0).collect()),
        (vec![0, 3], vec![]),
        (vec![3, 0, 2], vec![]),
    ];
    for (shape, data) in cases {
        let a = Array::new(shape.clone(), Dtype::Float64, data);
        let bytes = npy_bytes(&a);
        assert_eq!(load_one(&bytes).unwrap(), a, "shape {shape:?}");
        let mut via_writer = Vec::new();
        write_npy(&a, &mut via_writer).unwrap();
        assert_eq!(via_writer, bytes);
    }
}

#[test]
fn writes_the_header_numpy_writes() {
    let a = Array::new(vec![3, 4], Dtype::Float64, vec![0.0; 12]);
    let bytes = npy_bytes(&a);
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    assert_eq!(bytes.len(), 128 + 96);
    let text = String::from_utf8_lossy(&bytes[10..128]);
    assert!(text.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }"));
    assert!(text.ends_with(" \n"));
    let scalar = npy_bytes(&Array::new(vec![], Dtype::Float64, vec![1.0]));
    assert!(String::from_utf8_lossy(&scalar).contains("'shape': ()"));
    let one_d = npy_bytes(&Array::new(vec![5], Dtype::Float64, vec![0.0; 5]));
    assert!(String::from_utf8_lossy(&one_d).contains("'shape': (5,)"));
}

#[test]
fn write_rejects_inconsistent_arrays() {
    let bad = Array {
        shape: vec![2, 2],
        dtype: Dtype::Float64,
        data: vec![1.0],
    };
    let e = write_npy(&bad, &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn fortran_and_c_order_give_the_same_array() {
    // [[0, 1, 2], [3, 4, 5]]
    let c = load_one(&npy(
        "<f8",
        false,
        "(2, 3)",
        &f8_le(&[0., 1., 2., 3., 4., 5.]),
    ))
    .unwrap();
    let f = load_one(&npy(
        "<f8",
        true,
        "(2, 3)",
        &f8_le(&[0., 3., 1., 4., 2., 5.]),
    ))
    .unwrap();
    assert_eq!(c, f);
    // 3-D (2, 3, 2): element [i, j, k] = 6i + 2j + k, Fortran offset i + 2j + 6k.
    let mut fdata = vec![0.0; 12];
    for i in 0..2 {
        for j in 0..3 {
            for k in 0..2 {
                fdata[i + 2 * j + 6 * k] = (6 * i + 2 * j + k) as f64;
            }
        }
    }
    let f3 = load_one(&npy("<f8", true, "(2, 3, 2)", &f8_le(&fdata))).unwrap();
    assert_eq!(f3.data, (0..12).map(f64::from).collect::<Vec<_>>());
    // Fortran order of a 1-D or 0-d array is the same bytes.
    let f1 = load_one(&npy(
        "<i2",
        true,
        "(3,)",
        &encode!(i16, [1i16, 2, 3], false),
    ))
    .unwrap();
    assert_eq!(f1.data, vec![1.0, 2.0, 3.0]);
    let f0 = load_one(&npy("<f8", true, "()", &f8_le(&[7.0]))).unwrap();
    assert_eq!((f0.shape.clone(), f0.data.clone()), (vec![], vec![7.0]));
}

#[test]
fn version_2_and_3_headers() {
    let data = f8_le(&[1.0, 2.0, 3.0, 4.0]);
    let h = header("<f8", false, "(2, 2)");
    for version in [2, 3] {
        let a = load_one(&raw_npy(version, &h, &data)).unwrap();
        assert_eq!((a.shape, a.data), (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
    }
    // 3.0 is UTF-8: a non-ASCII extra key must not confuse it.
    let h3 = "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), 'note': 'µ'}";
    assert_eq!(load_one(&raw_npy(3, h3, &data)).unwrap().shape, vec![4]);
}

#[test]
fn tolerant_header_spelling() {
    let data = f8_le(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    for h in [
        "{'descr':'<f8','fortran_order':False,'shape':(2,3)}",
        "{ 'shape' : ( 2 , 3 , ) , 'fortran_order' : False , 'descr' : '<f8' , }",
        "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3], }",
        "{u'descr': u'<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': None}",
    ] {
        let a = load_one(&raw_npy(1, h, &data)).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert_eq!(a.shape, vec![2, 3], "{h}");
    }
    let one = load_one(&npy("<f8", false, "(6,)", &data)).unwrap();
    assert_eq!(one.shape, vec![6]);
    let scalar = load_one(&npy("<f8", false, "()", &f8_le(&[2.5]))).unwrap();
    assert_eq!((scalar.shape, scalar.data), (vec![], vec![2.5]));
}

#[test]
fn zero_size_arrays_parse() {
    for shape in ["(0,)", "(0, 5)", "(5, 0)", "(2, 0, 3)"] {
        let a = load_one(&npy("<f4", false, shape, &[])).unwrap();
        assert!(a.data.is_empty(), "{shape}");
    }
    let info = inspect_bytes_via_file(&npy("<f8", true, "(0, 3)", &[]));
    assert_eq!(info[0].shape, vec![0, 3]);
}

// ---- errors ----------------------------------------------------------------------------

#[test]
fn unsupported_dtypes_say_how_to_convert() {
    let cases = [
        ("<c16", "'<c16' (complex)", "X.real.astype(np.float64)"),
        ("<c8", "'<c8' (complex)", "np.abs(X)"),
        ("<f2", "'<f2' (float16)", "X.astype(np.float32)"),
        ("<f16", "(long double)", "X.astype(np.float64)"),
        (
            "<U5",
            "(text strings)",
            "np.unique(labels, return_inverse=True)",
        ),
        ("|S3", "(text strings)", "integers"),
        ("<M8[ns]", "'<M8[ns]' (datetime64)", "X.astype(np.int64)"),
        ("<m8[s]", "(timedelta64)", "np.timedelta64"),
        ("|V16", "(raw bytes)", "X.astype(np.float64)"),
        ("<i3", "'<i3' (unrecognised)", "float32/64"),
        ("<x4", "(unrecognised)", "X.astype(np.float64)"),
        ("", "'' (unrecognised)", "X.astype(np.float64)"),
        (">é8", "(unrecognised)", "X.astype"),
    ];
    for (descr, what, hint) in cases {
        let e = err(&raw_npy(3, &header(descr, false, "(2,)"), &[0; 32]));
        assert!(
            matches!(e, FormatError::UnsupportedDtype { .. }),
            "{descr}: {e:?}"
        );
        let msg = e.to_string();
        assert!(msg.starts_with("unsupported dtype"), "{msg}");
        assert!(msg.contains(what) && msg.contains(hint), "{descr}: {msg}");
        assert!(msg.contains("array 'X'"), "{msg}");
    }
}

#[test]
fn object_and_structured_dtypes_are_rejected() {
    let e = err(&npy("|O", false, "(2,)", b"\x80\x04pickle..."));
    assert!(matches!(e, FormatError::ObjectDtype { .. }));
    assert!(
        e.to_string()
            .starts_with("dtype object ('|O') is not supported: save a numeric array")
    );
    let h =
        "{'descr': [('x', '<f8'), ('y', '<i4', (2,))], 'fortran_order': False, 'shape': (3,), }";
    let e = err(&raw_npy(1, h, &[0; 48]));
    match &e {
        FormatError::StructuredDtype { fields, .. } => assert_eq!(fields, &["x", "y"]),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("structured_to_unstructured"));
}

#[test]
fn wrong_magic_explains_what_the_file_is() {
    let cases: [(&[u8], &str); 7] = [
        (b"", "the file is empty"),
        (b"\x89HDF\r\n\x1a\n\0\0\0\0\0", "HDF5"),
        (b"MATLAB 5.0 MAT-file", "scipy.io.loadmat"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\x80\x04\x95\x00", "pickle"),
        (b"1.0,2.0,3.0\n4.0,5.0,6.0\n", "np.loadtxt"),
        (b"\x00\x01\x02\xff", "np.save(path, X)"),
    ];
    for (bytes, hint) in cases {
        let e = err(bytes);
        assert!(matches!(e, FormatError::NotNpyOrNpz { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with("not a .npy or .npz file: "), "{msg}");
        assert!(msg.contains(hint), "{msg}");
        if !bytes.is_empty() {
            assert!(
                msg.contains("(expected \\x93NUMPY or a zip archive)"),
                "{msg}"
            );
        }
    }
    let msg = err(b"\x89HDF\r\n\x1a\n").to_string();
    assert!(
        msg.contains("the first bytes are b'\\x89HDF\\r\\n\\x1a\\n'"),
        "{msg}"
    );
    // A prefix of the magic is a truncated file, not a foreign one.
    assert!(matches!(err(b"\x93NUM"), FormatError::NotNpyOrNpz { .. }));
}

#[test]
fn truncated_and_garbage_headers() {
    let full = npy("<f8", false, "(2,)", &f8_le(&[1.0, 2.0]));
    for cut in [6, 7, 8, 9, 20, 127] {
        let e = err(&full[..cut]);
        assert!(
            matches!(e, FormatError::TruncatedHeader { .. }),
            "cut {cut}: {e:?}"
        );
        assert!(e.to_string().starts_with("file is truncated"));
    }
    let garbage = [
        "not a dict at all",
        "{'descr': '<f8', 'fortran_order': False}",
        "{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2.5,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': 2}",
        "{'descr': 8, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} trailing",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)",
        "(1, 2)",
    ];
    for h in garbage {
        let e = err(&raw_npy(1, h, &f8_le(&[1.0, 2.0])));
        assert!(matches!(e, FormatError::BadHeader { .. }), "{h}: {e:?}");
        assert!(e.to_string().contains("re-save it with np.save"));
    }
    let mut bad_utf8 = raw_npy(3, &header("<f8", false, "(1,)"), &f8_le(&[1.0]));
    bad_utf8[20] = 0xff;
    assert!(matches!(err(&bad_utf8), FormatError::BadHeader { .. }));
}

#[test]
fn unsupported_versions() {
    for (major, minor) in [(4, 0), (1, 1), (0, 0)] {
        let mut bytes = npy("<f8", false, "(1,)", &f8_le(&[1.0]));
        bytes[6] = major;
        bytes[7] = minor;
        let e = err(&bytes);
        assert!(matches!(e, FormatError::UnsupportedVersion { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("version {major}.{minor}")));
    }
}

#[test]
fn absurd_header_length_is_rejected_before_reading() {
    let mut bytes = MAGIC_BYTES.to_vec();
    bytes.extend_from_slice(&[2, 0]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let e = err(&bytes);
    assert!(matches!(e, FormatError::BadHeader { .. }), "{e:?}");
}

#[test]
fn truncated_data_reports_bytes() {
    let bytes = npy("<f8", false, "(500,)", &vec![0u8; 1234]);
    let e = err(&bytes);
    assert!(matches!(
        e,
        FormatError::Truncated {
            expected: 4000,
            found: 1234,
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "file is truncated: the header of array 'X' promises 4000 bytes of data, found 1234; \
         upload the complete file"
    );
    // A partial last element is truncation too.
    let e = err(&npy("<i4", false, "(2,)", &[0; 7]));
    assert!(matches!(
        e,
        FormatError::Truncated {
            expected: 8,
            found: 7,
            ..
        }
    ));
}

#[test]
fn trailing_data_is_rejected() {
    let mut bytes = npy("<f8", false, "(1,)", &f8_le(&[1.0]));
    bytes.extend_from_slice(&npy("<f8", false, "(1,)", &f8_le(&[2.0])));
    let e = err(&bytes);
    assert!(
        matches!(e, FormatError::TrailingData { extra: 136, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("np.savez"));
}

#[test]
fn huge_shapes_are_errors_not_allocations() {
    // 10^18 f8 elements fit in u64 bytes: the header is believable, the data is simply missing.
    let e = err(&npy("<f8", false, "(1000000000, 1000000000)", &[0; 64]));
    assert!(
        matches!(e, FormatError::Truncated { found: 64, .. }),
        "{e:?}"
    );
    let e = inspect_bytes_via_file_err(&npy("<f8", false, "(1000000000000000000,)", &[]));
    assert!(
        matches!(e, FormatError::Truncated { found: 0, .. }),
        "{e:?}"
    );
    // Sizes whose product overflows.
    for shape in [
        "(4294967296, 4294967296)",
        "(2305843009213693952,)",
        "(0, 4611686018427387904, 4611686018427387904)",
        "(1000000000000000000000000000000,)",
    ] {
        let e = err(&npy("<f8", false, shape, &[]));
        assert!(matches!(e, FormatError::TooLarge { .. }), "{shape}: {e:?}");
        assert!(e.to_string().contains("too large"), "{e}");
    }
}

#[test]
fn non_finite_values_are_located() {
    let mut v: Vec<f64> = (0..12).map(f64::from).collect();
    v[7] = f64::NAN;
    let e = err(&npy("<f8", false, "(4, 3)", &f8_le(&v)));
    assert!(
        e.to_string()
            .starts_with("array 'X' contains NaN at flat index 7 (row 2, column 1)")
    );
    // The same array stored in Fortran order: [2, 1] is at file position 2 + 4·1.
    let mut f = vec![0.0; 12];
    f[6] = f64::INFINITY;
    let e = err(&npy("<f8", true, "(4, 3)", &f8_le(&f)));
    assert!(
        e.to_string()
            .contains("contains Inf at flat index 7 (row 2, column 1)"),
        "{e}"
    );
    // 1-D, 3-D, 0-d and float32.
    let e = err(&npy(
        "<f8",
        false,
        "(3,)",
        &f8_le(&[0.0, f64::NEG_INFINITY, 0.0]),
    ));
    assert!(
        e.to_string()
            .starts_with("array 'X' contains -Inf at flat index 1; "),
        "{e}"
    );
    let mut v3 = [0.0; 24];
    v3[17] = f64::NAN; // (2, 3, 4): 17 = 1·12 + 1·4 + 1
    let e = err(&npy(">f8", false, "(2, 3, 4)", &encode!(f64, v3, true)));
    match &e {
        FormatError::NonFinite {
            flat_index, index, ..
        } => assert_eq!((*flat_index, index.as_slice()), (17, &[1, 1, 1][..])),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("(index [1, 1, 1])"));
    let e = err(&npy("<f8", false, "()", &f8_le(&[f64::NAN])));
    assert!(e.to_string().contains("NaN at flat index 0;"), "{e}");
    let e = err(&npy(
        "<f4",
        false,
        "(2,)",
        &encode!(f32, [1.0f32, f32::NAN], false),
    ));
    assert!(matches!(e, FormatError::NonFinite { flat_index: 1, .. }));
    // Integers have no NaN: an all-ones i8 byte pattern is just -1.
    let a = load_one(&npy("<i8", false, "(1,)", &[0xff; 8])).unwrap();
    assert_eq!(a.data, vec![-1.0]);
}

#[test]
fn non_finite_found_across_chunk_boundaries() {
    // 1000 × 300 f8 = 2.4 MB, three chunks; the NaN sits in the second chunk.
    let mut v = vec![0.5; 300_000];
    v[200_000] = f64::NAN;
    let bytes = npy("<f8", false, "(1000, 300)", &f8_le(&v));
    let e = inspect_bytes_via_file_err(&bytes);
    assert!(
        e.to_string()
            .contains("NaN at flat index 200000 (row 666, column 200)"),
        "{e}"
    );
    let e = err(&bytes);
    assert!(matches!(
        e,
        FormatError::NonFinite {
            flat_index: 200_000,
            ..
        }
    ));
    // Without the NaN it loads whole.
    v[200_000] = 1.0;
    let a = load_one(&npy("<f8", false, "(1000, 300)", &f8_le(&v))).unwrap();
    assert_eq!((a.data.len(), a.data[200_000]), (300_000, 1.0));
}

// ---- npz ----------------------------------------------------------------------------------

fn zip_of(members: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in members {
        let options = SimpleFileOptions::default().compression_method(method);
        if name.ends_with('/') {
            zip.add_directory(*name, options).unwrap();
        } else {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn npz_round_trip_keeps_names_and_order() {
    let x = Array::new(vec![2, 3], Dtype::Float64, (0..6).map(f64::from).collect());
    let labels = Array::new(vec![2], Dtype::Float64, vec![1.0, 0.0]);
    let scalar = Array::new(vec![], Dtype::Float64, vec![9.0]);
    let bytes = npz_bytes(&[("X", &x), ("labels", &labels), ("s", &scalar)]);
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    let loaded = load_bytes(&bytes, "ignored").unwrap();
    let names: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["X", "labels", "s"]);
    assert_eq!(loaded[0].1, x);
    assert_eq!(loaded[1].1, labels);
    assert_eq!(loaded[2].1, scalar);
    // Reproducible bytes.
    assert_eq!(
        bytes,
        npz_bytes(&[("X", &x), ("labels", &labels), ("s", &scalar)])
    );
}

#[test]
fn npz_deflated_with_directories() {
    let a = npy("<i4", true, "(2, 2)", &encode!(i32, [1i32, 3, 2, 4], false));
    let bytes = zip_of(&[("dir/", b""), ("A.npy", &a)], CompressionMethod::Deflated);
    let loaded = load_bytes(&bytes, "X").unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].0, "A");
    assert_eq!(loaded[0].1.data, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(loaded[0].1.dtype, Dtype::Int32);
}

#[test]
fn npz_errors_name_the_member() {
    let good = npy("<f8", false, "(1,)", &f8_le(&[1.0]));
    let nan = npy("<f8", false, "(2,)", &f8_le(&[1.0, f64::NAN]));
    let e = err(&zip_of(
        &[("ok.npy", &good), ("bad.npy", &nan)],
        CompressionMethod::Stored,
    ));
    assert!(
        e.to_string()
            .starts_with("array 'bad' contains NaN at flat index 1"),
        "{e}"
    );

    let complex = npy("<c16", false, "(1,)", &[0; 16]);
    let e = err(&zip_of(&[("Z.npy", &complex)], CompressionMethod::Deflated));
    assert!(e.to_string().contains("in array 'Z'"), "{e}");

    let e = err(&zip_of(
        &[("archive/data.pkl", b"\x80\x02")],
        CompressionMethod::Stored,
    ));
    assert!(matches!(e, FormatError::NotNpyMember { .. }), "{e:?}");
    assert!(e.to_string().contains("'archive/data.pkl'"));

    let e = err(&zip_of(
        &[("X.npy", b"hello world")],
        CompressionMethod::Stored,
    ));
    assert!(matches!(e, FormatError::NotNpy { .. }), "{e:?}");
    assert!(e.to_string().contains("b'hello wo"), "{e}");

    let e = err(&zip_of(&[], CompressionMethod::Stored));
    assert!(matches!(e, FormatError::EmptyArchive), "{e:?}");

    let short = npy("<f8", false, "(3,)", &f8_le(&[1.0]));
    let e = err(&zip_of(&[("T.npy", &short)], CompressionMethod::Deflated));
    assert!(
        matches!(
            e,
            FormatError::Truncated {
                expected: 24,
                found: 8,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn npz_duplicate_names() {
    let a = Array::new(vec![1], Dtype::Float64, vec![1.0]);
    let e = write_npz(&[("X", &a), ("X", &a)], Cursor::new(Vec::new())).unwrap_err();
    assert!(matches!(e, FormatError::DuplicateName { .. }));
    // The zip writer refuses duplicates, so rename "Y.npy" to "X.npy" in the finished bytes.
    let bytes = npz_bytes(&[("X", &a), ("Y", &a)]);
    let mut dup = bytes.clone();
    for i in 0..dup.len() - 5 {
        if &dup[i..i + 5] == b"Y.npy" {
            dup[i] = b'X';
        }
    }
    let e = err(&dup);
    assert!(
        matches!(
            e,
            FormatError::DuplicateName { .. } | FormatError::Zip { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn corrupt_zips_are_errors() {
    let a = Array::new(vec![4], Dtype::Float64, vec![1.0, 2.0, 3.0, 4.0]);
    let bytes = npz_bytes(&[("X", &a)]);
    // Cut anywhere: no panic, an error (most cuts lose the central directory).
    for cut in [4, 30, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(load_bytes(&bytes[..cut], "X").is_err(), "cut {cut}");
    }
    // Flip a data byte of the stored member: the CRC check catches it.
    let loaded_data = 30 + 5 + 128 + 8; // local header + name + npy header + first value
    let mut flipped = bytes.clone();
    flipped[loaded_data] ^= 0x01;
    let e = err(&flipped);
    assert!(matches!(e, FormatError::Zip { .. }), "{e:?}");
    assert!(e.to_string().contains("re-save it with np.savez"), "{e}");
}

// ---- files -------------------------------------------------------------------------------

fn inspect_bytes_via_file(bytes: &[u8]) -> Vec<ArrayInfo> {
    let path = temp_path("inspect.npy");
    std::fs::write(&path, bytes).unwrap();
    let info = inspect_file(&path, "X");
    std::fs::remove_file(&path).unwrap();
    info.unwrap()
}

fn inspect_bytes_via_file_err(bytes: &[u8]) -> FormatError {
    let path = temp_path("inspect-err.npy");
    std::fs::write(&path, bytes).unwrap();
    let info = inspect_file(&path, "X");
    std::fs::remove_file(&path).unwrap();
    info.unwrap_err()
}

#[test]
fn inspect_and_load_files() {
    let x = Array::new(
        vec![3, 2],
        Dtype::Float64,
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    let y = Array::new(vec![4], Dtype::Float64, vec![0.0; 4]);
    let npz = temp_path("data.npz");
    std::fs::write(&npz, npz_bytes(&[("X", &x), ("y", &y)])).unwrap();
    let info = inspect_file(&npz, "ignored").unwrap();
    assert_eq!(
        info,
        vec![
            ArrayInfo {
                name: "X".into(),
                shape: vec![3, 2],
                dtype: Dtype::Float64
            },
            ArrayInfo {
                name: "y".into(),
                shape: vec![4],
                dtype: Dtype::Float64
            },
        ]
    );
    let loaded = load_file(&npz, "ignored").unwrap();
    assert_eq!(
        loaded,
        vec![("X".to_string(), x.clone()), ("y".to_string(), y)]
    );
    std::fs::remove_file(&npz).unwrap();

    let u8s = npy("|u1", false, "(2, 2)", &[1, 2, 3, 4]);
    let info = inspect_bytes_via_file(&u8s);
    assert_eq!(
        info,
        vec![ArrayInfo {
            name: "X".into(),
            shape: vec![2, 2],
            dtype: Dtype::Uint8
        }]
    );
    let p = temp_path("rates.npy");
    std::fs::write(&p, &u8s).unwrap();
    let loaded = load_file(&p, "rates").unwrap();
    std::fs::remove_file(&p).unwrap();
    assert_eq!(loaded[0].0, "rates");
    assert_eq!(loaded[0].1.data, vec![1.0, 2.0, 3.0, 4.0]);

    let missing = inspect_file(&temp_path("missing.npy"), "X").unwrap_err();
    assert!(matches!(missing, FormatError::Io(_)));
    assert!(missing.to_string().starts_with("could not read the file: "));
}

#[test]
fn array_info_serializes() {
    let info = ArrayInfo {
        name: "X".into(),
        shape: vec![2, 3],
        dtype: Dtype::Int16,
    };
    let json = serde_json::to_string(&info).unwrap();
    assert_eq!(json, r#"{"name":"X","shape":[2,3],"dtype":"int16"}"#);
    assert_eq!(serde_json::from_str::<ArrayInfo>(&json).unwrap(), info);
}

// ---- properties --------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = load_bytes(&bytes, "X");
        let mut with_magic = MAGIC_BYTES.to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = load_bytes(&with_magic, "X");
    }

    #[test]
    fn corrupted_files_never_panic(at in 0usize..400, byte in any::<u8>(), npz in any::<bool>()) {
        let a = Array::new(vec![3, 4], Dtype::Float64, (0..12).map(f64::from).collect());
        let mut bytes = if npz { npz_bytes(&[("X", &a)]) } else { npy_bytes(&a) };
        let at = at % bytes.len();
        bytes[at] = byte;
        let _ = load_bytes(&bytes, "X");
        bytes.truncate(at);
        let _ = load_bytes(&bytes, "X");
    }

    #[test]
    fn write_read_round_trip(
        shape in proptest::collection::vec(0usize..5, 0..4),
        seed in any::<u64>(),
    ) {
        let len: usize = shape.iter().product();
        let data: Vec<f64> = (0..len)
            .map(|i| ((i as u64).wrapping_mul(seed | 1) % 1000) as f64 - 500.25)
            .collect();
        let a = Array::new(shape, Dtype::Float64, data);
        prop_assert_eq!(load_one(&npy_bytes(&a)).unwrap(), a.clone());
        let loaded = load_bytes(&npz_bytes(&[("A", &a)]), "X").unwrap();
        prop_assert_eq!(&loaded[0].1, &a);
    }
}
