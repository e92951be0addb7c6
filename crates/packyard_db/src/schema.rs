//! The one diesel schema, with portable column types only.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        name -> Text,
        email -> Nullable<Text>,
        is_admin -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    namespaces (id) {
        id -> BigInt,
        name -> Text,
        path -> Text,
        full_path -> Text,
        parent_id -> Nullable<BigInt>,
        root_id -> Nullable<BigInt>,
        description -> Text,
        created_at -> Timestamp,
        uuid -> Text,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> BigInt,
        user_id -> BigInt,
        access_level -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    personal_access_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_digest -> Text,
        scopes -> Text,
        expires_at -> Nullable<Timestamp>,
        revoked -> Bool,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    deploy_tokens (id) {
        id -> BigInt,
        group_id -> BigInt,
        name -> Text,
        username -> Text,
        token_digest -> Text,
        scopes -> Text,
        expires_at -> Nullable<Timestamp>,
        revoked -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    virtual_registries (id) {
        id -> BigInt,
        group_id -> BigInt,
        format -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    upstreams (id) {
        id -> BigInt,
        group_id -> BigInt,
        format -> Text,
        name -> Text,
        description -> Nullable<Text>,
        url -> Text,
        username -> Nullable<Text>,
        password_encrypted -> Nullable<Text>,
        cache_validity_hours -> Integer,
        metadata_cache_validity_hours -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    registry_upstreams (id) {
        id -> BigInt,
        group_id -> BigInt,
        registry_id -> BigInt,
        upstream_id -> BigInt,
        position -> Integer,
    }
}

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        size -> BigInt,
        created_at -> Timestamp,
        written_at -> Timestamp,
        orphaned_at -> Nullable<Timestamp>,
        deleting -> Bool,
    }
}

diesel::table! {
    cache_entries (id) {
        id -> BigInt,
        group_id -> BigInt,
        upstream_id -> BigInt,
        relative_path -> Text,
        blob_sha256 -> Text,
        size -> BigInt,
        file_sha1 -> Text,
        file_md5 -> Nullable<Text>,
        content_type -> Text,
        upstream_etag -> Nullable<Text>,
        upstream_checked_at -> Timestamp,
        downloads_count -> BigInt,
        downloaded_at -> Nullable<Timestamp>,
        status -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        kind -> Text,
        payload -> Text,
        unique_key -> Nullable<Text>,
        interval_secs -> Nullable<BigInt>,
        status -> Text,
        run_at -> Timestamp,
        attempts -> Integer,
        max_attempts -> Integer,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cleanup_policies (group_id) {
        group_id -> BigInt,
        enabled -> Bool,
        keep_n_days_after_download -> Integer,
        cadence -> Integer,
        notify_on_success -> Bool,
        notify_on_failure -> Bool,
        status -> Text,
        next_run_at -> Nullable<Timestamp>,
        last_run_at -> Nullable<Timestamp>,
        last_run_deleted_size -> BigInt,
        last_run_deleted_entries_count -> BigInt,
        last_run_detailed_metrics -> Text,
        failure_message -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    packages (id) {
        id -> BigInt,
        uuid -> Text,
        owner_group_id -> Nullable<BigInt>,
        package_type -> Text,
        name -> Text,
        normalized_name -> Text,
        group_name -> Text,
        artifact_id -> Text,
        latest_version -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    package_versions (id) {
        id -> BigInt,
        uuid -> Text,
        package_id -> BigInt,
        version -> Text,
        base_version -> Text,
        lower_version -> Text,
        language_version -> Nullable<Text>,
        download_count -> BigInt,
        upload_type -> Text,
        metadata -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        index_metadata -> Nullable<Text>,
    }
}

diesel::table! {
    package_files (id) {
        id -> BigInt,
        uuid -> Text,
        version_id -> BigInt,
        name -> Text,
        blob_sha256 -> Text,
        size -> BigInt,
        file_md5 -> Text,
        file_sha1 -> Text,
        file_sha512 -> Text,
        upload_type -> Text,
        metadata -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(group_members -> users (user_id));
diesel::joinable!(group_members -> namespaces (group_id));
diesel::joinable!(personal_access_tokens -> users (user_id));
diesel::joinable!(registry_upstreams -> upstreams (upstream_id));
diesel::joinable!(registry_upstreams -> virtual_registries (registry_id));
diesel::joinable!(cache_entries -> upstreams (upstream_id));
diesel::table! {
    upstream_entry_counts (upstream_id) {
        upstream_id -> BigInt,
        live_entries -> BigInt,
    }
}

diesel::joinable!(upstream_entry_counts -> upstreams (upstream_id));
diesel::table! {
    npm_dist_tags (id) {
        id -> BigInt,
        package_id -> BigInt,
        tag -> Text,
        version -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(packages -> namespaces (owner_group_id));
diesel::joinable!(package_versions -> packages (package_id));
diesel::joinable!(package_files -> package_versions (version_id));
diesel::joinable!(npm_dist_tags -> packages (package_id));

diesel::table! {
    change_generations (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    fill_leases (upstream_id, relative_path) {
        upstream_id -> BigInt,
        relative_path -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    namespaces,
    group_members,
    personal_access_tokens,
    deploy_tokens,
    virtual_registries,
    upstreams,
    registry_upstreams,
    blobs,
    cache_entries,
    upstream_entry_counts,
    jobs,
    cleanup_policies,
    packages,
    package_versions,
    package_files,
    npm_dist_tags,
);
