//! The categorizer: a tenant's rules, the provider map and the keyword defaults, loaded once and
//! applied to many transactions.

use std::collections::HashMap;

use findash_schema::TenantConn;
use findash_schema::categories::{self, Rule};
use regex::{Regex, RegexBuilder};
use uuid::Uuid;

use super::provider_map::{KEYWORDS, PROVIDER_CATEGORIES};

/// A rule's test on text.
#[derive(Debug)]
enum Test {
    Contains(String),
    Equals(String),
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug)]
struct CompiledRule {
    category: Uuid,
    on_counterparty: bool,
    test: Test,
    min: Option<i64>,
    max: Option<i64>,
}

/// Decides categories; see the module above for the precedence.
#[derive(Debug, Default)]
pub struct Categorizer {
    rules: Vec<CompiledRule>,
    /// Lower-cased provider category → category id.
    provider: HashMap<String, Uuid>,
    /// Lower-cased keyword → category id.
    keywords: Vec<(&'static str, Uuid)>,
}

/// Compiled regular expressions are bounded, so a rule cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Categorizer {
    /// The tenant's categorizer.
    pub fn load(scope: &mut TenantConn<'_>) -> diesel::QueryResult<Categorizer> {
        let rules = categories::enabled_rules(scope)?;
        let slugs = categories::ids_by_slug(scope)?;
        Ok(Categorizer::new(&rules, &slugs))
    }

    pub fn new(rules: &[Rule], slugs: &HashMap<String, Uuid>) -> Categorizer {
        let rules = rules.iter().filter_map(compile).collect();
        let provider = PROVIDER_CATEGORIES
            .iter()
            .filter_map(|(name, slug)| slugs.get(*slug).map(|id| ((*name).to_owned(), *id)))
            .collect();
        let keywords = KEYWORDS
            .iter()
            .filter_map(|(word, slug)| slugs.get(*slug).map(|id| (*word, *id)))
            .collect();
        Categorizer {
            rules,
            provider,
            keywords,
        }
    }

    /// The category for a transaction a person has not categorized (`None`: uncategorized).
    pub fn choose(
        &self,
        description: &str,
        counterparty: Option<&str>,
        amount_minor: i64,
        provider_category: Option<&str>,
    ) -> Option<Uuid> {
        let description_lower = description.to_lowercase();
        let counterparty_lower = counterparty.map(str::to_lowercase);
        for rule in &self.rules {
            if rule.min.is_some_and(|min| amount_minor < min)
                || rule.max.is_some_and(|max| amount_minor > max)
            {
                continue;
            }
            let (text, lower) = if rule.on_counterparty {
                match (counterparty, &counterparty_lower) {
                    (Some(text), Some(lower)) => (text, lower.as_str()),
                    _ => continue,
                }
            } else {
                (description, description_lower.as_str())
            };
            let hit = match &rule.test {
                Test::Contains(p) => lower.contains(p.as_str()),
                Test::Equals(p) => lower.trim() == p,
                Test::Prefix(p) => lower.trim_start().starts_with(p.as_str()),
                Test::Regex(re) => re.is_match(text),
            };
            if hit {
                return Some(rule.category);
            }
        }
        if let Some(id) =
            provider_category.and_then(|c| self.provider.get(&c.trim().to_lowercase()))
        {
            return Some(*id);
        }
        self.keywords
            .iter()
            .find(|(word, _)| description_lower.contains(word))
            .map(|(_, id)| *id)
    }
}

fn compile(rule: &Rule) -> Option<CompiledRule> {
    let pattern = rule.pattern.to_lowercase();
    let test = match rule.match_kind.as_str() {
        "contains" => Test::Contains(pattern),
        "equals" => Test::Equals(pattern.trim().to_owned()),
        "prefix" => Test::Prefix(pattern.trim_start().to_owned()),
        "regex" => match RegexBuilder::new(&rule.pattern)
            .case_insensitive(true)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => Test::Regex(re),
            Err(e) => {
                tracing::warn!(rule = %rule.id, error = %e, "categorization rule with an invalid regex skipped");
                return None;
            }
        },
        other => {
            tracing::warn!(rule = %rule.id, kind = other, "categorization rule of an unknown kind skipped");
            return None;
        }
    };
    Some(CompiledRule {
        category: rule.category_id,
        on_counterparty: rule.match_field == "counterparty",
        test,
        min: rule.amount_min_minor,
        max: rule.amount_max_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: i32, field: &str, kind: &str, pattern: &str, category: Uuid) -> Rule {
        Rule {
            id: Uuid::new_v4(),
            category_id: category,
            priority,
            match_field: field.to_owned(),
            match_kind: kind.to_owned(),
            pattern: pattern.to_owned(),
            amount_min_minor: None,
            amount_max_minor: None,
        }
    }

    #[test]
    fn precedence_rules_then_provider_then_keywords() {
        let ids: HashMap<String, Uuid> = [
            "groceries",
            "restaurants",
            "subscriptions",
            "transport",
            "shopping",
        ]
        .iter()
        .map(|s| ((*s).to_owned(), Uuid::new_v4()))
        .collect();
        let shopping = ids["shopping"];
        let mut big = rule(10, "description", "contains", "amazon", shopping);
        big.amount_max_minor = Some(-10_000);
        let rules = vec![
            rule(
                5,
                "counterparty",
                "equals",
                "Padaria Real",
                ids["restaurants"],
            ),
            big,
            rule(20, "description", "regex", r"^uber\s*\*", ids["transport"]),
            rule(30, "description", "regex", "([", ids["groceries"]),
        ];
        let c = Categorizer::new(&rules, &ids);
        // Counterparty rule, case-insensitive, beats the provider's category.
        assert_eq!(
            c.choose("COMPRA", Some("PADARIA REAL"), -500, Some("Groceries")),
            Some(ids["restaurants"])
        );
        // Amount bound: a large Amazon purchase is shopping; a small one falls through to the
        // provider category.
        assert_eq!(
            c.choose("AMAZON.COM", None, -20_000, Some("Digital services")),
            Some(shopping)
        );
        assert_eq!(
            c.choose("AMAZON.COM", None, -5_000, Some("Digital services")),
            Some(ids["subscriptions"])
        );
        assert_eq!(
            c.choose("UBER *TRIP", None, -900, None),
            Some(ids["transport"])
        );
        // Keyword default when nothing else matches; nothing at all gives none.
        assert_eq!(
            c.choose("NETFLIX.COM", None, -5_590, Some("Unknown thing")),
            Some(ids["subscriptions"])
        );
        assert_eq!(c.choose("XYZ", None, -100, None), None);
        // The invalid regex was skipped, not fatal.
        assert_eq!(c.rules.len(), 3);
    }
}
