/** s3: objects as anymap storage backends (in progress: see the S3 issue). */
module dev.anymap.backend.s3 {
    requires dev.anymap.spi;
}
