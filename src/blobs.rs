//! Content-addressed blob storage for uploads and job artifacts: a local directory by default, any
//! S3-compatible object store when `--blob-store s3://bucket/prefix` is given.
//!
//! Keys are `sha256/<first two hex>/<hex>`: identical content is stored once, and a blob, once
//! written, never changes. That makes artifact writes safe without fencing (a stale worker can
//! only write bytes nobody points to; the database row that names the blob is fenced).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    staging: PathBuf,
    description: String,
}

/// Chunk size for streaming files in and out (bounded memory for any upload size).
const CHUNK: usize = 8 << 20;

impl BlobStore {
    /// `location` is a directory path or `s3://bucket[/prefix]` (credentials, region and endpoint
    /// from the usual `AWS_*` environment variables). Uploads are staged in `staging_dir`.
    pub fn open(location: &str, staging_dir: Option<&Path>) -> anyhow::Result<BlobStore> {
        let (inner, default_staging, description): (Arc<dyn ObjectStore>, PathBuf, String) =
            if let Some(rest) = location.strip_prefix("s3://") {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .context("configuring the S3 blob store")?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
                };
                (
                    store,
                    std::env::temp_dir().join("simscore-staging"),
                    location.to_string(),
                )
            } else {
                let dir = PathBuf::from(location);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating the blob directory {}", dir.display()))?;
                let local = LocalFileSystem::new_with_prefix(&dir)
                    .with_context(|| format!("opening the blob directory {}", dir.display()))?;
                (
                    Arc::new(local),
                    dir.join(".staging"),
                    format!("local:{}", dir.display()),
                )
            };
        let staging = staging_dir
            .map(Path::to_path_buf)
            .unwrap_or(default_staging);
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("creating the staging directory {}", staging.display()))?;
        Ok(BlobStore {
            inner,
            staging,
            description,
        })
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Where uploads are written while they are hashed and validated.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    fn key(sha256: &str) -> ObjectPath {
        ObjectPath::from(format!(
            "sha256/{}/{}",
            &sha256[..2.min(sha256.len())],
            sha256
        ))
    }

    pub async fn exists(&self, sha256: &str) -> anyhow::Result<bool> {
        match self.inner.head(&Self::key(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e).context("checking the blob store"),
        }
    }

    /// Stores a file's content under its hash, streaming it in chunks.
    pub async fn put_file(&self, sha256: &str, path: &Path) -> anyhow::Result<()> {
        if self.exists(sha256).await? {
            return Ok(());
        }
        let upload = self.inner.put_multipart(&Self::key(sha256)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut file = tokio::fs::File::open(path).await?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(2).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await.context("writing a blob")?;
        Ok(())
    }

    /// Stores bytes under their hash; returns the hash.
    pub async fn put_bytes(&self, bytes: Bytes) -> anyhow::Result<String> {
        let sha = sha256_hex(&bytes);
        if !self.exists(&sha).await? {
            self.inner
                .put(&Self::key(&sha), PutPayload::from(bytes))
                .await
                .context("writing a blob")?;
        }
        Ok(sha)
    }

    pub async fn get(&self, sha256: &str) -> anyhow::Result<Bytes> {
        let got = self
            .inner
            .get(&Self::key(sha256))
            .await
            .context("reading a blob")?;
        Ok(got.bytes().await?)
    }

    /// A byte range `[start, end)` of a blob, as a stream of chunks.
    pub async fn get_range(
        &self,
        sha256: &str,
        range: std::ops::Range<u64>,
    ) -> anyhow::Result<futures::stream::BoxStream<'static, object_store::Result<Bytes>>> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let got = self
            .inner
            .get_opts(&Self::key(sha256), opts)
            .await
            .context("reading a blob")?;
        Ok(got.into_stream())
    }

    pub async fn delete(&self, sha256: &str) -> anyhow::Result<()> {
        match self.inner.delete(&Self::key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).context("deleting a blob"),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
