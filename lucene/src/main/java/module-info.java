/**
 * A read-only Lucene {@code Directory} over any anymap location: {@link dev.anymap.lucene.AnymapDirectory}.
 */
module dev.anymap.lucene {
    requires transitive dev.anymap.core;
    requires transitive org.apache.lucene.core;
    // Listing an s3:// prefix; an application that maps s3: URIs has these already.
    requires static dev.anymap.backend.s3;
    requires static software.amazon.awssdk.services.s3;
    requires static software.amazon.awssdk.core;
    requires static software.amazon.awssdk.awscore;
    requires static software.amazon.awssdk.auth;
    requires static software.amazon.awssdk.regions;
    requires static software.amazon.awssdk.identity.spi;

    exports dev.anymap.lucene;
}
