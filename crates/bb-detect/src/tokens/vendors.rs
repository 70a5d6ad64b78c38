//! Credential formats of the services people who run coding agents use, written from each
//! vendor's published token format: a distinctive prefix, then the body's alphabet and length.
//! Literals are chosen so that none holds another rule's literal (the literal search moves past
//! a hit) and so that ordinary text rarely starts one.

use super::accept::{g1_lb, g1_lb_random, whole, whole_lb};
use super::rules::Spec;

/// After a token: not another character of its alphabet.
macro_rules! end {
    () => {
        r"(?:[^A-Za-z0-9_-]|$)"
    };
}

/// On in every engine (the proxy and the gate). A rule here costs the proxy's one SIMD literal
/// search for every byte it scans: only rules that share a literal already searched for (and
/// rarely hit) belong here; measured, fifteen more rare literals cost the proxy 13% and all
/// of [`BROAD`] 55% of its token throughput.
pub(super) const VENDORS: &[Spec] = &[Spec::new(
    "mapbox-secret-token",
    &["eyJ"],
    concat!(
        r"(?-u)(sk\.eyJ[A-Za-z0-9_-]{20,300}\.[A-Za-z0-9_-]{20,100})",
        end!()
    ),
    g1_lb,
)];

/// On in engines built with [`crate::Engine::with_broad_rules`] (the git gate): a literal
/// search of its own over each scanned buffer.
pub(super) const BROAD: &[Spec] = &[
    // A PKCS#12 key store (`.p12`, `.pfx`): the DER header of a PFX, version 3, whose
    // authenticated safe is PKCS#7 data or signed data; in binary files, and as the base64 of a
    // long-form header (decoded binary is not scanned for text tokens).
    Spec::new(
        "pkcs12-keystore",
        &["\x02\x01\x03\x30", "IBAzCC"],
        r"(?s-u)\x30(?:\x80|\x81.|\x82..|\x83...)\x02\x01\x03\x30(?:\x80|\x81.|\x82..|\x83...)\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07[\x01\x02]|MII[A-Za-z0-9+/]{3}IBAzCC[A-Za-z0-9+/]{3}GCSqGSIb3DQEH(?:AQ|Ag)",
        whole,
    ),
    Spec::new(
        "slack-webhook-url",
        &["hooks.slack.com"],
        r"(?-u)hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,200}",
        whole,
    ),
    Spec::new(
        "slack-app-token",
        &["xapp-"],
        concat!(r"(?-u)(xapp-[0-9]-[A-Za-z0-9-]{20,250})", end!()),
        g1_lb,
    ),
    Spec::new(
        "gitlab-token",
        &["gldt-", "glrt-", "glptt-", "glcbt-", "glsoat-", "GR1348941"],
        concat!(
            r"(?-u)((?:gl(?:dt|rt|ptt|cbt|soat)-|GR1348941)[A-Za-z0-9_.-]{20,100})",
            end!()
        ),
        g1_lb,
    ),
    Spec::new(
        "atlassian-api-token",
        &["ATATT3"],
        r"(?-u)(ATATT3[A-Za-z0-9_=-]{150,250})(?:[^A-Za-z0-9_=-]|$)",
        g1_lb,
    ),
    Spec::new(
        "bitbucket-app-password",
        &["ATBB"],
        concat!(r"(?-u)(ATBB[A-Za-z0-9]{32})", end!()),
        g1_lb,
    ),
    Spec::new(
        "aws-bedrock-api-key",
        &["ABSK"],
        r"(?-u)(ABSK[A-Za-z0-9+/]{109,269}={0,2})(?:[^A-Za-z0-9+/=]|$)",
        g1_lb,
    ),
    Spec::new(
        "digitalocean-token",
        &["_v1_"],
        concat!(r"(?-u)(do[opr]_v1_[a-f0-9]{64})", end!()),
        g1_lb,
    ),
    Spec::new(
        "google-oauth-client-secret",
        &["GOCSPX-"],
        concat!(r"(?-u)(GOCSPX-[A-Za-z0-9_-]{28})", end!()),
        g1_lb,
    ),
    Spec::new(
        "google-oauth-access-token",
        &["ya29."],
        concat!(r"(?-u)(ya29\.[A-Za-z0-9_-]{30,2048})", end!()),
        g1_lb,
    ),
    Spec::new(
        "vault-token",
        &["hvs.", "hvb."],
        concat!(r"(?-u)(hv[sb]\.[A-Za-z0-9_-]{24,300})", end!()),
        g1_lb,
    ),
    Spec::new(
        "supabase-key",
        // `sb_` ends before the `secret_` of Notion's tokens starts (the literal search moves
        // past a hit, so a longer literal would hide Notion's).
        &["sbp_", "sb_"],
        concat!(
            r"(?-u)(sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{31,40})",
            end!()
        ),
        g1_lb,
    ),
    Spec::new(
        "rubygems-api-key",
        &["rubygems_"],
        concat!(r"(?-u)(rubygems_[a-f0-9]{48})", end!()),
        g1_lb,
    ),
    Spec::new(
        "crates-io-token",
        &["cio"],
        concat!(r"(?-u)(cio[A-Za-z0-9]{32})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "stripe-webhook-secret",
        &["whsec_"],
        r"(?-u)(whsec_[A-Za-z0-9+/=]{24,100})(?:[^A-Za-z0-9+/=]|$)",
        g1_lb_random,
    ),
    Spec::new(
        "shopify-token",
        &["shp"],
        concat!(r"(?-u)(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})", end!()),
        g1_lb,
    ),
    Spec::new(
        "huggingface-org-token",
        &["api_org_"],
        concat!(r"(?-u)(api_org_[A-Za-z]{34})", end!()),
        super::accept::mixed_case,
    ),
    Spec::new(
        "groq-api-key",
        &["gsk_"],
        concat!(r"(?-u)(gsk_[A-Za-z0-9]{52})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "xai-api-key",
        &["xai-"],
        concat!(r"(?-u)(xai-[A-Za-z0-9]{80})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "perplexity-api-key",
        &["pplx-"],
        concat!(r"(?-u)(pplx-[A-Za-z0-9]{48})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "langsmith-api-key",
        &["lsv2_"],
        concat!(r"(?-u)(lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})", end!()),
        g1_lb,
    ),
    Spec::new(
        "linear-api-key",
        &["lin_api_"],
        concat!(r"(?-u)(lin_api_[A-Za-z0-9]{40})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "notion-token",
        &["ntn_", "secret_"],
        concat!(
            r"(?-u)(ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})",
            end!()
        ),
        g1_lb_random,
    ),
    Spec::new(
        "grafana-cloud-token",
        &["glc_"],
        r"(?-u)(glc_[A-Za-z0-9+/]{32,400}={0,2})(?:[^A-Za-z0-9+/=_-]|$)",
        g1_lb,
    ),
    Spec::new(
        "grafana-service-account-token",
        &["glsa_"],
        concat!(r"(?-u)(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})", end!()),
        g1_lb,
    ),
    Spec::new(
        "newrelic-user-key",
        &["NRAK-"],
        concat!(r"(?-u)(NRAK-[A-Z0-9]{27})", end!()),
        g1_lb,
    ),
    Spec::new(
        "sentry-token",
        &["sntry"],
        r"(?-u)(sntrys_eyJ[A-Za-z0-9+/=_-]{30,400})(?:[^A-Za-z0-9+/=_-]|$)|(sntryu_[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
        super::accept::first_group_lb,
    ),
    Spec::new(
        "azure-ad-client-secret",
        &["Q~"],
        r"(?-u)(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
        super::accept::g1,
    ),
    Spec::new(
        "database-url-password",
        &[
            "mongodb", "postgres", "mysql", "mariadb", "redis", "amqp", "mssql",
        ],
        r"(?-u)(?:mongodb(?:\+srv)?|postgres(?:ql)?|mysql|mariadb|rediss?|amqps?|mssql)://[A-Za-z0-9._%~-]{0,64}:([^\s:/@'`<>{}$]{8,128})@",
        super::accept::url_password,
    ),
    Spec::new(
        "discord-webhook-url",
        &["/api/webhooks/"],
        r"(?-u)discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68}",
        whole,
    ),
    Spec::new(
        "teams-webhook-url",
        &["webhook.office.com"],
        r"(?-u)[A-Za-z0-9-]{1,60}\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/-]{40,300}",
        whole,
    ),
    Spec::new(
        "telegram-bot-token",
        &[":AA"],
        concat!(r"(?-u)([0-9]{8,10}:AA[A-Za-z0-9_-]{33})", end!()),
        g1_lb,
    ),
    Spec::new(
        "alibaba-access-key-id",
        &["LTAI"],
        concat!(r"(?-u)(LTAI[A-Za-z0-9]{20})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "tencent-secret-id",
        &["AKID"],
        concat!(r"(?-u)(AKID[A-Za-z0-9]{32})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "terraform-cloud-token",
        &[".atlasv1."],
        concat!(
            r"(?-u)([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})",
            end!()
        ),
        g1_lb,
    ),
    Spec::new(
        "flyio-token",
        &["fo1_", "fm1", "fm2_"],
        r"(?-u)(fo1_[A-Za-z0-9_-]{43}|fm1[ar]_[A-Za-z0-9+/=_-]{100,1000}|fm2_[A-Za-z0-9+/=_-]{100,1000})(?:[^A-Za-z0-9+/=_-]|$)",
        g1_lb,
    ),
    Spec::new(
        "heroku-api-key",
        &["HRKU-"],
        concat!(r"(?-u)(HRKU-[A-Za-z0-9_-]{50,70})", end!()),
        g1_lb,
    ),
    Spec::new(
        "netlify-token",
        &["nfp_"],
        concat!(r"(?-u)(nfp_[A-Za-z0-9]{36})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "render-api-key",
        &["rnd_"],
        concat!(r"(?-u)(rnd_[A-Za-z0-9]{32})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "cloudflare-origin-ca-key",
        &["v1.0-"],
        concat!(r"(?-u)(v1\.0-[a-f0-9]{24}-[a-f0-9]{146})", end!()),
        g1_lb,
    ),
    Spec::new(
        "nuget-api-key",
        &["oy2"],
        concat!(r"(?-u)(oy2[a-z0-9]{43})", end!()),
        g1_lb,
    ),
    Spec::new(
        "jfrog-token",
        &["AKCp", "cmVmdGtu"],
        concat!(
            r"(?-u)(AKCp[A-Za-z0-9]{69}|cmVmdGtuOjAxOj[A-Za-z0-9]{50,60})",
            end!()
        ),
        g1_lb,
    ),
    Spec::new(
        "clojars-token",
        &["CLOJARS_"],
        concat!(r"(?-u)(CLOJARS_[a-z0-9]{60})", end!()),
        g1_lb,
    ),
    Spec::new(
        "pulumi-token",
        &["pul-"],
        concat!(r"(?-u)(pul-[a-f0-9]{40})", end!()),
        g1_lb,
    ),
    Spec::new(
        "square-token",
        &["sq0"],
        concat!(r"(?-u)(sq0(?:atp|csp)-[A-Za-z0-9_-]{22,43})", end!()),
        g1_lb,
    ),
    Spec::new(
        "paypal-braintree-token",
        &["$production$"],
        r"(?-u)access_token\$production\$[a-z0-9]{16}\$[a-f0-9]{32}",
        whole_lb,
    ),
    Spec::new(
        "flutterwave-secret-key",
        &["FLWSECK"],
        r"(?-u)FLWSECK(?:_TEST)?-[a-h0-9]{32}-X",
        whole_lb,
    ),
    Spec::new(
        "shippo-token",
        &["shippo_"],
        concat!(r"(?-u)(shippo_(?:live|test)_[a-f0-9]{40})", end!()),
        g1_lb,
    ),
    Spec::new(
        "duffel-token",
        &["duffel_"],
        r"(?-u)(duffel_(?:live|test)_[A-Za-z0-9_=-]{43})(?:[^A-Za-z0-9_=-]|$)",
        g1_lb,
    ),
    Spec::new(
        "easypost-api-key",
        &["EZAK", "EZTK"],
        concat!(r"(?-u)(EZ[AT]K[A-Za-z0-9]{54})", end!()),
        g1_lb,
    ),
    Spec::new(
        "replicate-token",
        &["r8_"],
        concat!(r"(?-u)(r8_[A-Za-z0-9]{37})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "planetscale-token",
        &["pscale_"],
        r"(?-u)(pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64})(?:[^A-Za-z0-9_.=-]|$)",
        g1_lb,
    ),
    Spec::new(
        "databricks-token",
        &["dapi"],
        concat!(r"(?-u)(dapi[a-f0-9]{32}(?:-[0-9])?)", end!()),
        g1_lb,
    ),
    Spec::new(
        "doppler-token",
        &["dp."],
        concat!(
            r"(?-u)(dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,44})",
            end!()
        ),
        g1_lb,
    ),
    Spec::new(
        "figma-token",
        &["figd_"],
        concat!(r"(?-u)(figd_[A-Za-z0-9_-]{40})", end!()),
        g1_lb,
    ),
    Spec::new(
        "contentful-token",
        &["CFPAT-"],
        concat!(r"(?-u)(CFPAT-[A-Za-z0-9_-]{43})", end!()),
        g1_lb,
    ),
    Spec::new(
        "postman-api-key",
        &["PMAK-"],
        r"(?-u)PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}",
        whole_lb,
    ),
    Spec::new(
        "dynatrace-token",
        &["dt0c01."],
        r"(?-u)dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}",
        whole_lb,
    ),
    Spec::new(
        "prefect-api-key",
        &["pnu_"],
        concat!(r"(?-u)(pnu_[A-Za-z0-9]{36})", end!()),
        g1_lb_random,
    ),
    Spec::new(
        "age-secret-key",
        &["AGE-SECRET-KEY-1"],
        r"(?-u)AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        whole_lb,
    ),
];
