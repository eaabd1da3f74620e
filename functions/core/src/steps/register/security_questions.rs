//! `GET/PUT /api/register/questions`: the question pool and a whole set of
//! answers, checked against the policy and hashed.

use super::*;

/// One question to register: a predefined or custom question by `id` (or by
/// its exact `question` text), and the answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuestionAnswer {
    pub id: Option<String>,
    pub question: Option<String>,
    pub answer: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuestionsRequest {
    pub questions: Vec<QuestionAnswer>,
}

/// `GET /api/register/questions`: the pool to choose from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuestionPool {
    pub questions_to_register: u8,
    pub questions: Vec<Question>,
}

pub fn question_pool(ctx: &Ctx) -> Result<QuestionPool> {
    let policy = Policy::load(ctx.store)?;
    Ok(QuestionPool { questions_to_register: policy.questions_to_register, questions: policy.question_pool() })
}

/// Checks a whole set of questions; every problem is listed (without echoing answers).
fn check_questions(
    policy: &Policy,
    req: &QuestionsRequest,
) -> std::result::Result<Vec<(Question, String)>, Vec<String>> {
    let pool = policy.question_pool();
    let want = policy.questions_to_register as usize;
    let mut problems = Vec::new();
    if req.questions.len() != want {
        problems.push(format!("Register exactly {want} security questions."));
    }
    let mut chosen: Vec<(Question, String)> = Vec::new();
    for (i, qa) in req.questions.iter().enumerate().take(20) {
        let n = i + 1;
        let by_id =
            qa.id.as_deref().map(str::trim).filter(|s| !s.is_empty()).and_then(|id| pool.iter().find(|q| q.id == id));
        let by_text = qa
            .question
            .as_deref()
            .map(questions::normalise)
            .filter(|s| !s.is_empty())
            .and_then(|t| pool.iter().find(|q| questions::normalise(&q.text) == t));
        let Some(q) = by_id.or(by_text) else {
            problems.push(format!("Question {n} is not one of the offered questions."));
            continue;
        };
        if chosen.iter().any(|(c, _)| c.id == q.id) {
            problems.push(format!("Question {n} was chosen twice; choose different questions."));
            continue;
        }
        let answer = questions::normalise(&qa.answer);
        let len = answer.chars().count();
        if qa.answer.len() > 200 || !(3..=40).contains(&len) {
            problems.push(format!("The answer to question {n} must be 3 to 40 characters."));
        } else if answer.contains(&questions::normalise(&q.text)) {
            problems.push(format!("The answer to question {n} may not contain the question."));
        } else if chosen.iter().any(|(_, a)| *a == answer) {
            problems.push(format!(
                "The answer to question {n} is the same as another answer; use a different answer for each question."
            ));
        }
        chosen.push((q.clone(), answer));
    }
    if problems.is_empty() { Ok(chosen) } else { Err(problems) }
}

/// `PUT /api/register/questions`: replaces the user's questions and answers
/// (a step-up first when anything is registered; every previous contact is told).
pub fn set_questions(ctx: &Ctx, notifier: &dyn Notifier, s: &Session, req: QuestionsRequest) -> Result<Status> {
    let policy = Policy::load(ctx.store)?;
    let user = signed_in_user(ctx, s)?;
    if !Contact::SecurityQuestions.allowed(&policy, &user) {
        return Err(ApiError::method_unavailable());
    }
    if req.questions.is_empty() {
        return Err(ApiError::missing_field("questions"));
    }
    let chosen = check_questions(&policy, &req).map_err(|problems| {
        ApiError::new(ErrorCode::InvalidQuestions, problems.join(" ")).with_details(json!({ "problems": problems }))
    })?;
    // Before the hashing work; decided again inside the record's compare-and-swap.
    step_up::require(ctx, &policy, s, &user)?;
    let mut answers = Vec::with_capacity(chosen.len());
    for (q, normalised) in &chosen {
        answers.push(SecurityAnswer {
            question_id: q.id.clone(),
            question: q.text.clone(),
            answer_hash: hashing::hash(ctx.random, normalised)?,
        });
    }
    let now = ctx.now();
    let user = step_up::change(ctx, notifier, &policy, s, &user.id, Contact::SecurityQuestions, |u| {
        u.security_answers = answers.clone();
        u.registered_at = Some(now);
        Ok(())
    })?;
    Ok(status_of(ctx, &policy, &user, s))
}
