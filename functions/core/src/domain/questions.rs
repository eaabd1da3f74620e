//! Security questions: the predefined pool, answer normalisation, and the
//! random draw asked at reset time.

use crate::domain::hashing;
use crate::platform::clock::Random;
use crate::platform::kv;
use serde::{Deserialize, Serialize};

/// Predefined questions (Entra offers a pool of 35; these are ours).
pub const PREDEFINED: [(&str, &str); 35] = [
    ("q01", "In what city did you meet your first spouse/partner?"),
    ("q02", "In what city did your parents meet?"),
    ("q03", "In what city does your nearest sibling live?"),
    ("q04", "In what city was your father born?"),
    ("q05", "In what city was your first job?"),
    ("q06", "In what city was your mother born?"),
    ("q07", "What city were you in on New Year's 2000?"),
    ("q08", "What is the last name of your favorite teacher in high school?"),
    ("q09", "What is the name of a college you applied to but didn't attend?"),
    ("q10", "What is the name of the place in which you held your first wedding reception?"),
    ("q11", "What is your father's middle name?"),
    ("q12", "What is your favorite food?"),
    ("q13", "What is your maternal grandmother's first and last name?"),
    ("q14", "What is your mother's middle name?"),
    ("q15", "What is your oldest sibling's birthday month and year?"),
    ("q16", "What is your oldest sibling's middle name?"),
    ("q17", "What is your paternal grandfather's first and last name?"),
    ("q18", "What is your youngest sibling's middle name?"),
    ("q19", "What school did you attend for sixth grade?"),
    ("q20", "What was the first and last name of your childhood best friend?"),
    ("q21", "What was the first and last name of your first significant other?"),
    ("q22", "What was the last name of your favorite grade school teacher?"),
    ("q23", "What was the make and model of your first car or motorcycle?"),
    ("q24", "What was the name of the first school you attended?"),
    ("q25", "What was the name of the hospital in which you were born?"),
    ("q26", "What was the name of the street of your first childhood home?"),
    ("q27", "What was the name of your childhood hero?"),
    ("q28", "What was the name of your favorite stuffed animal?"),
    ("q29", "What was the name of your first pet?"),
    ("q30", "What was your childhood nickname?"),
    ("q31", "What was your favorite sport in high school?"),
    ("q32", "What was your first job?"),
    ("q33", "What were the last four digits of your childhood telephone number?"),
    ("q34", "When you were young, what did you want to be when you grew up?"),
    ("q35", "Who is the most famous person you have ever met?"),
];

/// A question as shown to the user.
/// One registered security question with the Argon2id hash of its normalised answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityAnswer {
    pub question_id: String,
    pub question: String,
    pub answer_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub text: String,
}

/// One typed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub id: String,
    pub answer: String,
}

/// Trim, case-fold and collapse inner whitespace, so "  Rex  the DOG" == "rex the dog".
pub fn normalise(answer: &str) -> String {
    answer.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// `n` distinct registered questions in random order (partial Fisher–Yates).
pub fn draw(random: &dyn Random, registered: &[SecurityAnswer], n: usize) -> Vec<String> {
    let mut ids: Vec<String> = registered.iter().map(|a| a.question_id.clone()).collect();
    let n = n.min(ids.len());
    for i in 0..n {
        let j = i + kv::random_below(random, (ids.len() - i) as u32) as usize;
        ids.swap(i, j);
    }
    ids.truncate(n);
    ids
}

/// The drawn questions' texts, in drawn order.
pub fn shown(registered: &[SecurityAnswer], drawn: &[String]) -> Vec<Question> {
    drawn
        .iter()
        .filter_map(|id| registered.iter().find(|a| &a.question_id == id))
        .map(|a| Question { id: a.question_id.clone(), text: a.question.clone() })
        .collect()
}

/// True only if every drawn question got exactly one answer and each matches.
/// Every answer is hashed even after a miss, so timing does not tell which one was wrong.
pub fn all_match(registered: &[SecurityAnswer], drawn: &[String], answers: &[Answer]) -> bool {
    if drawn.is_empty() || answers.len() != drawn.len() {
        return false;
    }
    let mut ok = true;
    for id in drawn {
        let given: Vec<&Answer> = answers.iter().filter(|a| &a.id == id).collect();
        let stored = registered.iter().find(|a| &a.question_id == id);
        match (given.as_slice(), stored) {
            ([one], Some(stored)) => ok &= hashing::verify(&normalise(&one.answer), &stored.answer_hash),
            _ => ok = false,
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::OsRandom;

    fn registered() -> Vec<SecurityAnswer> {
        (1..=5)
            .map(|i| SecurityAnswer {
                question_id: format!("q0{i}"),
                question: PREDEFINED[i - 1].1.to_owned(),
                answer_hash: hashing::hash(&OsRandom, &normalise(&format!("Answer  {i} "))).unwrap(),
            })
            .collect()
    }

    #[test]
    fn normalising_ignores_case_and_spacing_only() {
        assert_eq!(normalise("  Rex \t the   DOG "), "rex the dog");
        assert_ne!(normalise("rex the dog"), normalise("rexthedog"));
    }

    #[test]
    fn draws_are_distinct_and_vary() {
        let reg = registered();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..40 {
            let d = draw(&OsRandom, &reg, 3);
            assert_eq!(d.len(), 3);
            assert_eq!(d.iter().collect::<std::collections::HashSet<_>>().len(), 3);
            seen.insert(d);
        }
        assert!(seen.len() > 5, "draws are random");
        assert_eq!(shown(&reg, &["q02".to_owned()])[0].text, PREDEFINED[1].1);
    }

    #[test]
    fn every_drawn_answer_must_match() {
        let reg = registered();
        let drawn = vec!["q01".to_owned(), "q03".to_owned(), "q05".to_owned()];
        let a = |id: &str, ans: &str| Answer { id: id.into(), answer: ans.into() };
        assert!(all_match(&reg, &drawn, &[a("q05", "answer 5"), a("q01", " ANSWER 1"), a("q03", "answer   3")]));
        assert!(!all_match(&reg, &drawn, &[a("q01", "answer 1"), a("q03", "answer 3"), a("q05", "answer 4")]));
        assert!(!all_match(&reg, &drawn, &[a("q01", "answer 1"), a("q03", "answer 3")]), "one missing");
        assert!(
            !all_match(&reg, &drawn, &[a("q01", "answer 1"), a("q01", "answer 1"), a("q03", "answer 3")]),
            "duplicate"
        );
        assert!(
            !all_match(&reg, &drawn, &[a("q01", "answer 1"), a("q03", "answer 3"), a("q02", "answer 2")]),
            "not drawn"
        );
        assert!(!all_match(&reg, &[], &[]));
    }
}
