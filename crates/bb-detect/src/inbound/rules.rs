//! The inbound phrase rules: a name, a kind (which decides the confidence) and a regex over
//! the normalised text.

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Imperative,
    High,
    Marker,
    Low,
    /// Low, raised by a second signal nearby.
    Combo,
    /// Addressed to AI agents: High when an imperative follows.
    Address,
}

pub(super) const RULES: &[(&str, Kind, &str)] = &[
    (
        "injection:ignore-previous",
        Kind::Imperative,
        r"\b(?:ignore|disregard|forget|override|bypass|skip|neglect|do\snot\sfollow|don't\sfollow|stop\sfollowing)\s(?:(?:all|any|each|every|the|your|my|of|these|those|that|which)\s){0,3}(?:(?:previous|prior|above|earlier|preceding|former|initial|original|system|existing|current|old|given|other)\s){1,2}(?:instructions?|prompts?|directions?|rules|guidelines|guidance|directives?|commands|context|messages?|constraints|programming|orders|tasks?)\b|\b(?:ignore|disregard|forget)\s(?:everything|all)\s(?:you(?:'ve|\shave)?\s(?:been\stold|learned|read)|above|before|prior|so\sfar|until\snow|up\sto\snow)\b",
    ),
    (
        "injection:role-reassignment",
        Kind::Imperative,
        r"\byou\sare\snow\s(?:a|an|the|in|my|no\slonger|dan|free|unrestricted|unfiltered|jailbroken|acting|operating|running|developer|god|root|admin|evil)\b|\bfrom\snow\son,?\syou\s(?:are|will|must|shall|should|can|have)\b|\b(?:act|behave|respond)\sas\s(?:if\syou\s(?:are|were)\s)?(?:an?\s)?(?:unrestricted|unfiltered|jailbroken|evil|malicious|dan)\b|\bpretend\s(?:to\sbe|you\s(?:are|were|have))\b|\byour\snew\s(?:role|instructions?|task|goal|objective|purpose|identity|persona)\s(?:is|are)\b|\b(?:enter|switch\sto|enable|activate)\s(?:developer|god|dan|jailbreak|debug|admin|sudo|unrestricted)\smode\b",
    ),
    (
        "injection:chat-template-token",
        Kind::High,
        r"<\|im_start\|>\s?(?:system|developer|assistant)|<\|(?:system|im_sep|endoftext|start_header_id|end_header_id|eot_id)\|>|<<sys>>|\[/?inst\]",
    ),
    (
        "injection:fake-system-marker",
        Kind::Marker,
        r"\[(?:system|developer|admin|sys)(?:\s(?:message|prompt|note|override|instructions?))?\]|(?:^|\n)#{1,6}\s?(?:system|developer)(?:\s(?:message|prompt|instructions?|override))?\s?:|</?(?:system|system_prompt|system-prompt)>|(?:^|\n)(?:system|developer)\s(?:message|prompt|override|instructions?)\s?:",
    ),
    (
        "injection:prompt-extraction",
        Kind::Imperative,
        r"\b(?:output|print|reveal|show|repeat|display|dump|leak|disclose|tell\sme|give\sme|write\sout|send|share|return|list)\s(?:me\s|us\s)?(?:back\s)?(?:all\sof\s|all\s)?(?:your|the)\s(?:(?:complete|full|entire|exact|original|initial|hidden|secret|current|whole|raw)\s){0,3}(?:system\s(?:prompt|message|instructions)|initial\s(?:prompt|instructions)|(?:prompt|instructions)\s(?:above|verbatim)|instructions|tool\sdefinitions|developer\s(?:prompt|message))\b",
    ),
    (
        "injection:exfiltrate-secrets",
        Kind::Imperative,
        r"\b(?:send|post|upload|exfiltrate|transmit|forward|email|leak|share|submit)\s(?:me\s|us\s|over\s)?(?:(?:all|any|every|the|your|these|those|its|my|our|local|stored|saved|current|full|complete|entire|raw|contents\sof|content\sof|values?\sof)\s){0,4}(?:secrets?|credentials?|api\s?keys?|access\s?keys?|auth(?:entication)?\stokens?|tokens?|passwords?|passphrases?|env(?:ironment)?\s(?:variables|vars|file)|environment|\.env\b|ssh\s(?:keys?|private\skeys?)|private\skeys?|cookies|session\s(?:tokens?|cookies?)|/etc/(?:passwd|shadow)|~/\.ssh\S*|\S*id_(?:rsa|ed25519|ecdsa)|\S*\.aws/credentials|\S*\.netrc|\S*\.git-credentials|/proc/self/environ)",
    ),
    (
        "injection:sensitive-file",
        Kind::Imperative,
        r"\b(?:output|print|reveal|display|dump|show|disclose)\s(?:me\s|us\s)?(?:(?:all|the|your|full|complete|entire|raw|contents\sof|content\sof)\s){0,3}(?:/etc/(?:passwd|shadow)|~/\.ssh\S*|\S*id_(?:rsa|ed25519|ecdsa)\b|\S*\.aws/credentials|\S*\.netrc|\S*\.git-credentials|/proc/self/environ|\.env\b)",
    ),
    (
        "injection:exfil-command",
        Kind::High,
        r"\b(?:curl|wget|nc|ncat|netcat|invoke-webrequest|iwr)\b[^\n]{0,300}?(?:/etc/(?:passwd|shadow)|~/\.ssh/|\.ssh/id_|\bid_(?:rsa|ed25519|ecdsa)\b|\.aws/credentials|\.git-credentials|/proc/self/environ|\$\(\s?(?:env|printenv|set)\s?\)|`(?:env|printenv)`)|\b(?:cat|base64|tar|env|printenv)\b[^\n|]{0,200}?\|\s?(?:base64\s?(?:-w\s?0\s?)?\|\s?)?(?:curl|wget|nc|ncat|netcat)\b",
    ),
    (
        "injection:decode-execute",
        Kind::Imperative,
        r"\bdecode\s(?:\S+\s){0,6}?(?:and|then|&)\s(?:then\s)?(?:execute|run|eval(?:uate)?|follow|obey|perform|pipe)\b|\b(?:execute|run|eval(?:uate)?)\s(?:the\s)?(?:decoded|following\s(?:base64|encoded))\b",
    ),
    (
        "injection:encoded-shell",
        Kind::High,
        r"\bbase64\s(?:-d|--decode|-di)\b[^\n]{0,60}\|\s?(?:sudo\s)?(?:ba|z|k|da|fi)?sh\b",
    ),
    (
        "injection:pipe-to-shell",
        Kind::Low,
        r"\b(?:curl|wget)\s[^\n|;]{0,300}\|\s?(?:sudo\s)?(?:ba|z|k|da|fi)?sh\b|\biex\s?\(\s?(?:new-object|iwr|invoke-webrequest)",
    ),
    (
        "injection:conceal-from-user",
        Kind::Imperative,
        r"\b(?:do\snot|don't|never|without)\s(?:tell|telling|inform|informing|notify|notifying|alert|alerting|mention|mentioning|show|showing|reveal|revealing|ask|asking|let)\s(?:this\s(?:to\s)?|it\s(?:to\s)?|anything\s(?:to\s)?)?(?:the\s)?(?:user|human|operator|owner)\b",
    ),
    (
        "injection:addressed-to-ai",
        Kind::Address,
        r"\b(?:attention|note|message|instructions?|important|notice)\s(?:to|for)\s(?:all\s|any\s)?(?:ai|llms?|gpt|chatgpt|claude|assistants?|agents?|ai\s(?:assistants?|agents?|models?|systems?)|language\smodels?|bots?|crawlers?)\b|\bif\syou\sare\s(?:an?\s)?(?:ai|llm|large\slanguage\smodel|language\smodel|ai\s(?:assistant|agent|model)|assistant|agent|chatbot|bot|automated\sagent)\b|\b(?:ai|llm)\s(?:assistants?|agents?|models?)\s(?:reading|processing|parsing|summari[sz]ing|visiting|browsing)\s(?:this|these)\b|\bdear\s(?:ai|assistant|agent|llm|chatgpt|claude)\b",
    ),
    (
        "injection:authority-claim",
        Kind::Combo,
        r"\byou\s(?:now\s)?(?:have|are\sgranted|have\sbeen\sgranted|are\snow\sauthorized|are\sauthorized)\s(?:(?:full|complete|unrestricted|elevated|root|admin|administrator|administrative|special|unlimited|sudo)\s){1,3}(?:access|privileges|permissions|rights|authority|clearance|control|mode)\b|\bnew\s(?:priority|urgent|emergency|critical|system|top-priority)\s(?:directive|instruction|override|order|task)s?\b|\b(?:admin|developer|system|maintenance|debug|god|sudo)\s(?:override|mode\s(?:enabled|activated|on))\b",
    ),
    (
        "injection:urgent-execute",
        Kind::Combo,
        r"\b(?:execute|run)\s(?:the\s(?:following|above|below)|this|these)\s(?:(?:shell|bash|terminal|powershell)\s)?(?:commands?|code|script|instructions?)\s(?:immediately|now|right\saway|at\sonce|without\s(?:asking|confirmation|hesitation|delay|question))",
    ),
];
